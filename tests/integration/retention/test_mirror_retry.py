"""Holds reach the central copy through the replicator, and an outage only delays them: a
hold placed or lifted while the store is down is mirrored once it is back, then the real
object-locked store refuses (or, lifted, no longer holds) the deletion."""

from __future__ import annotations

from pathlib import Path

import pytest

from dock.clock import FixedClock
from dock.config import CentralSettings
from dock.db.models import Clip
from dock.replication import records as replicas
from dock.replication.central import CentralStore, CentralStoreUnreachable
from dock.replication.replicator import Replicator
from dock.retention import holds
from dock.retention.holds import HoldKind
from dock.retention.models import PendingMirror
from tests.integration.people_setup import START
from tests.integration.retention.conftest import CUSTODIAN, NOW
from tests.integration.retention.test_central_hold import (
    assert_deletion_refused,
    fresh_bucket,
    legal_hold_of,
    replicated_clip,
)
from tests.integration.retention.test_retention_at_store import journal_of
from tests.integration.retention.test_retention_cli import number_after
from tests.integration.test_cli_people import SETTINGS, DockCli
from tests.servers.seaweed import SeaweedServer, make_seaweed, seaweed  # noqa: F401


def replicated(records, make_server) -> tuple[SeaweedServer, int, CentralStore, Replicator]:
    """A server the test may stop, a clip whose copy there is confirmed, and a replicator."""
    server = make_server()
    clip_id, central = replicated_clip(records, server, days_old=2)
    replicator = Replicator(
        records.db, records.store, central, CentralSettings(), FixedClock(NOW),
        records.store.root.parent, dock_id="dock-01",
    )  # fmt: skip
    return server, clip_id, central, replicator


def place(records, clip_id: int) -> int:
    with records.db.transaction() as session:
        hold = holds.place_hold(
            session, clip_id=clip_id, case_number=None, kind=HoldKind.DISPUTE,
            note="complaint expected", actor=CUSTODIAN, now=NOW,
        )  # fmt: skip
        return hold.id


def waiting(records) -> list[str]:
    with records.db.transaction() as session:
        return [row.sha256 for row in session.query(PendingMirror)]


def test_a_hold_placed_while_the_central_store_is_down_is_mirrored_once_it_is_back(
    records,
    make_seaweed,  # noqa: F811
) -> None:
    server, clip_id, central, replicator = replicated(records, make_seaweed)
    sha = records.sha_of(clip_id)
    assert replicator.run_once() == 0  # the copy is confirmed: nothing waits
    server.stop()

    place(records, clip_id)
    for _pass in range(2):
        with pytest.raises(CentralStoreUnreachable):
            replicator.run_once()

    assert waiting(records) == [sha]
    pending = journal_of(records.db, "hold.mirror_pending")
    assert [(e.data["sha256"], e.data["clip_id"]) for e in pending] == [(sha, clip_id)]
    assert "unreachable" in pending[0].data["error"]  # journaled once, not once per pass
    assert journal_of(records.db, "hold.mirrored") == []

    server.start()
    replicator.run_once()

    mirrored = journal_of(records.db, "hold.mirrored")
    assert [(e.data["sha256"], e.data["is_legal_hold"]) for e in mirrored] == [(sha, True)]
    assert waiting(records) == []
    assert legal_hold_of(server, central, sha) == "ON"
    assert_deletion_refused(server, central, sha)


def test_a_hold_lifted_through_its_approved_request_while_the_store_is_down_is_lifted_there_later(
    records,
    make_seaweed,  # noqa: F811
) -> None:
    server, clip_id, central, replicator = replicated(records, make_seaweed)
    sha = records.sha_of(clip_id)
    hold_id = place(records, clip_id)
    replicator.run_once()
    assert legal_hold_of(server, central, sha) == "ON"
    wang = records.actor("wang")
    with records.db.transaction() as session:
        request_id = holds.request_lift(
            session, records.commands, wang, hold_id, why="complaint withdrawn"
        ).id
    records.approve(request_id)
    server.stop()

    with records.db.transaction() as session:
        holds.lift_hold(session, records.commands, wang, hold_id)
    with pytest.raises(CentralStoreUnreachable):
        replicator.run_once()
    assert waiting(records) == [sha]

    server.start()
    replicator.run_once()

    mirrored = journal_of(records.db, "hold.mirrored")
    assert [e.data["is_legal_hold"] for e in mirrored] == [True, False]
    assert legal_hold_of(server, central, sha) == "OFF"
    assert waiting(records) == []


def test_dock_hold_place_and_its_approved_lift_reach_the_central_copy(
    tmp_path: Path,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    """The commands a custodian types only journal; the running dock's replicator reads the
    rows and sets, then clears, the legal hold on the agency's copy."""
    cli = DockCli(tmp_path, SETTINGS)
    people = cli.people
    assert people is not None
    try:
        clip_id = people.add_clip(b"held footage")
        with people.db.transaction() as session:
            sha = session.get_one(Clip, clip_id).sha256
            replicas.queue(session, sha, people.store.path_of(sha).stat().st_size, START)
        central = fresh_bucket(seaweed)
        replicator = Replicator(
            people.db, people.store, central, CentralSettings(), FixedClock(START),
            people.settings.dock.data_dir, dock_id="dock-01",
        )  # fmt: skip
        assert replicator.run_once() == 1
        assert journal_of(people.db, "hold.mirrored") == []  # no hold: nothing to mirror

        placed = cli.ok("hold", "place", "--kind", "dispute", "--note", "complaint",
                        "--clip", str(clip_id), user="cora")  # fmt: skip
        replicator.run_once()
        assert legal_hold_of(seaweed, central, sha) == "ON"

        hold_id = number_after("hold", placed)
        asked = cli.ok("hold", "lift", str(hold_id), "--why", "complaint withdrawn", user="cora")
        request_id = number_after("request", asked)
        cli.ok("review", str(request_id), user="lena")
        cli.ok("approve", str(request_id), user="leo")
        replicator.run_once()
        assert legal_hold_of(seaweed, central, sha) == "ON"  # asked and approved, not lifted
        cli.ok("hold", "lift", str(hold_id), user="cora")
        replicator.run_once()
        assert legal_hold_of(seaweed, central, sha) == "OFF"
        mirrored = journal_of(people.db, "hold.mirrored")
        assert [e.data["is_legal_hold"] for e in mirrored] == [True, False]
    finally:
        people.close()

"""A clip's retention end is set when it is stored, follows its classification, and reaches
the central copy when replication stores it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dock import journal
from dock.clock import FixedClock
from dock.config import CentralSettings
from dock.db.models import Clip
from dock.people.classification import classify
from dock.replication import records as replicas
from dock.replication.replicator import Replicator
from dock.retention import holds, policy
from dock.retention.holds import HoldKind
from dock.retention.models import ClipRetention
from tests.integration.retention.conftest import CUSTODIAN, NOW
from tests.integration.retention.test_central_hold import fresh_bucket, legal_hold_of
from tests.integration.test_offload import dock_and_wait
from tests.servers.seaweed import SeaweedServer, seaweed  # noqa: F401


def journal_of(db, type_):
    with db.transaction() as session:
        return [e for e in journal.read_after(session, 0, limit=10_000) if e.type == type_]


def test_an_offloaded_clip_has_its_retention_end_from_the_moment_it_is_stored(dock):
    recorder = dock.recorder("ZFY30001", clip_count=2, clip_bytes=50_000)
    dock.start()
    dock_and_wait(dock, recorder)
    with dock.db.transaction() as session:
        rows = session.execute(
            select(
                Clip.id, Clip.recorded_start_utc, ClipRetention.retention_end, ClipRetention.rule
            )
            .join(ClipRetention, ClipRetention.clip_id == Clip.id)
            .order_by(Clip.id)
        ).all()
        clip_count = session.query(Clip).count()
    assert clip_count == 2 and len(rows) == 2
    for _, start, end, rule in rows:
        assert end == start + timedelta(days=dock.settings.retention.default_days)
        assert rule == f"default {dock.settings.retention.default_days} days"


def test_classifying_a_clip_into_a_longer_kept_case_moves_its_end_journaled_with_who_and_why(
    people,
):
    clip_id = people.add_clip()
    later = people.clock.now_utc() + timedelta(days=3650)
    with people.db.transaction() as session:
        policy.set_case_retention(
            session, people.settings.retention, "2026-17", later,
            actor=CUSTODIAN, why="case file kept 10 years", now=people.clock.now_utc(),
        )  # fmt: skip
        clip = session.get_one(Clip, clip_id)
        policy.store_end(session, people.settings.retention, clip, people.clock.now_utc())
        before = session.get_one(ClipRetention, clip_id).retention_end
    cora = people.sign_in("cora")

    with people.db.transaction() as session:
        classify(
            session, cora, clip_id, {"case_number": "2026-17"},
            categories=people.settings.people.record_categories,
            retention=people.settings.retention, clock=people.clock,
            why="evidence in case 2026-17",
        )  # fmt: skip

    with people.db.transaction() as session:
        row = session.get_one(ClipRetention, clip_id)
        assert (row.retention_end, row.rule) == (later, "case 2026-17: kept as its case file")
    assert before is not None and before < later
    [changed] = journal_of(people.db, "retention.changed")
    assert changed.actor == "staff:cora"
    assert changed.data["why"] == "evidence in case 2026-17"
    assert changed.data["case_number"] == "2026-17"


def test_classifying_only_the_place_leaves_the_retention_end_alone(people):
    clip_id = people.add_clip()
    cora = people.sign_in("cora")
    with people.db.transaction() as session:
        classify(
            session, cora, clip_id, {"place": "人民路 3 号"},
            categories=people.settings.people.record_categories,
            retention=people.settings.retention, clock=people.clock,
        )  # fmt: skip
    assert journal_of(people.db, "retention.changed") == []


def test_a_held_clip_replicated_gets_its_legal_hold_and_retain_until_on_the_central_copy(
    make_records,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    records = make_records(default_days=180, category_days={"交通事故": 3650})
    held = records.add_clip(days_old=2, category="交通事故")
    plain = records.add_clip(days_old=2)
    with records.db.transaction() as session:
        policy.compute_missing(session, records.settings.retention, CUSTODIAN, NOW)
        holds.place_hold(
            session, clip_id=held, case_number=None, kind=HoldKind.DISPUTE,
            note="complaint expected", actor=CUSTODIAN, now=NOW,
        )  # fmt: skip
        end = session.get_one(ClipRetention, held).retention_end
    central = fresh_bucket(seaweed)
    replicator = Replicator(
        records.db, records.store, central, CentralSettings(), FixedClock(NOW),
        records.store.root.parent, dock_id="dock-01",
    )  # fmt: skip
    for clip_id in (held, plain):
        sha = records.sha_of(clip_id)
        with records.db.transaction() as session:
            replicas.queue(session, sha, records.store.path_of(sha).stat().st_size, NOW)

        assert replicator.replicate(sha) == 1

    held_sha, plain_sha = records.sha_of(held), records.sha_of(plain)
    assert legal_hold_of(seaweed, central, held_sha) == "ON"
    copy = central.head(held_sha)
    assert copy is not None and copy.retain_until is not None and end is not None
    assert abs((copy.retain_until - end).total_seconds()) < 1
    mirrored = journal_of(records.db, "hold.mirrored")
    assert [(e.data["sha256"], e.data["is_legal_hold"]) for e in mirrored] == [(held_sha, True)]
    plain_copy = central.head(plain_sha)
    assert plain_copy is not None and plain_copy.retain_until is not None
    assert plain_copy.retain_until < end  # only its own lock: nothing to mirror

"""`dock purge` and `dock hold lift` through the command layer, as a custodian runs them:
the real `dock` command, each call signing its person in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dock.db.models import Clip
from tests.integration.people_setup import START
from tests.integration.test_cli_people import SETTINGS, DockCli


@pytest.fixture
def cli(tmp_path: Path):
    made = DockCli(tmp_path, SETTINGS)
    yield made
    assert made.people is not None
    made.people.close()


def number_after(word: str, out: str) -> int:
    words = out.split()
    return int(words[words.index(word) + 1].rstrip(":"))


def test_a_purge_is_requested_reviewed_approved_then_carried_out_from_the_cli(cli: DockCli):
    people = cli.people
    assert people is not None
    old = START - timedelta(days=400)
    expired = people.add_clip(b"expired", recorded_start_utc=old, recorded_end_utc=old)
    held = people.add_clip(b"held", recorded_start_utc=old, recorded_end_utc=old)
    placed = cli.ok("hold", "place", "--kind", "dispute", "--note", "complaint", "--clip",
                    str(held), user="cora")  # fmt: skip
    hold_id = number_after("hold", placed)
    assert cli.ok("purge", "--dry-run", user="cora").strip().endswith("would remove: 1 clips")

    asked = cli.ok("purge", "--request", "--why", "quarter end", user="cora")
    request_id = number_after("request", asked)
    assert f"clip {expired} " in asked and f"clip {held} " not in asked
    assert "approved" in cli.fails("purge", "--approved", str(request_id), user="cora")
    cli.ok("review", str(request_id), user="lena")
    cli.ok("approve", str(request_id), user="leo")
    done = cli.ok("purge", "--approved", str(request_id), user="cora")

    assert done.strip().endswith("removed (undo with `dock purge undo CLIP`): 1 clips")
    assert "approved by leo" in cli.ok("purge", "list", user="cora")
    assert cli.request_row(request_id).state == "carried_out"
    with people.db.transaction() as session:
        kept = session.get_one(Clip, held).sha256
    assert people.store.has(kept)

    lift = cli.ok("hold", "lift", str(hold_id), "--why", "complaint withdrawn", user="cora")
    lift_id = number_after("request", lift)
    assert "approved" in cli.fails("hold", "lift", str(hold_id), user="cora")
    cli.ok("review", str(lift_id), user="lena")
    cli.ok("approve", str(lift_id), user="leo")
    assert cli.ok("hold", "lift", str(hold_id), user="cora").strip() == f"hold {hold_id} lifted"
    assert cli.ok("hold", "list", user="cora").strip() == "no active holds"

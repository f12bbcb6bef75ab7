"""`dock purge` and `dock hold lift` through the command layer, as a custodian runs them,
and `dock sample` as an auditor does: the real `dock` command, each call signing its person
in."""

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


def test_the_dry_run_lists_each_clip_in_the_agency_language(cli: DockCli):
    people = cli.people
    assert people is not None
    old = START - timedelta(days=400)
    expired = people.add_clip(b"expired", recorded_start_utc=old, recorded_end_utc=old)
    with people.db.transaction() as session:
        sha = session.get_one(Clip, expired).sha256
    text = cli.config.read_text(encoding="utf-8").replace('language = "en"\n', "")
    cli.config.write_text(text, encoding="utf-8")
    listed = cli.ok("purge", "--dry-run", user="cora").splitlines()
    ended = f"{old + timedelta(days=180):%Y-%m-%d}"
    assert listed == [
        f"视频 {expired}（1001，{old:%Y-%m-%d} 录制）：按“默认保存期 180 天”于 {ended} 到期；{sha}",
        "将清除：1 个视频",
    ]
    kept = cli.ok("retention", "classify", str(expired), "--case", "A-7", "--why", "立案",
                  user="cora")  # fmt: skip
    assert kept.strip().endswith("（案件 A-7：案卷未结，一直保存）")


def test_an_auditor_rescores_a_clip_only_with_a_comment_and_show_says_so(cli: DockCli):
    people = cli.people
    assert people is not None
    clip = people.add_clip(b"sampled", recorded_start_utc=START, recorded_end_utc=START)
    period = ["--since", f"{START:%Y-%m-%d}", "--until", f"{START + timedelta(days=1):%Y-%m-%d}"]
    drawn = cli.ok("sample", "draw", *period, "--seed", "7", user="audrey")
    sample = number_after("sample", drawn)
    assert drawn.strip().endswith(f"clips {clip}")
    items = people.settings.retention.checklist

    def score(met: int, *comment: str) -> list[str]:
        answers = [
            a for n, item in enumerate(items) for a in ("--pass" if n < met else "--fail", item)
        ]
        return ["sample", "score", str(sample), str(clip), *answers, *comment]

    first = number_after("row", cli.ok(*score(1), user="audrey").replace(")", ""))
    refused = cli.fails(*score(2), user="audrey")
    assert refused == (
        f"error: you scored clip {clip} already (journal row {first}); a rescore replaces "
        "that score and needs a comment saying why"
    )
    again = cli.ok(*score(2, "--comment", "item 2 was met after all"), user="audrey")
    second = number_after("row", again.replace(")", ""))
    shown = cli.ok("sample", "show", str(sample), user="audrey").splitlines()[2:]
    by = " met, by staff:audrey "  # then when, as the agency reads the time
    assert [(line.split(by)[0], line.split(" (journal row ")[1]) for line in shown] == [
        (
            f"clip {clip}: 1/{len(items)}",
            f"{first}); replaced by journal row {second}, not counted",
        ),
        (
            f"clip {clip}: 2/{len(items)}",
            f"{second}); rescore, replaces journal row {first}: item 2 was met after all",
        ),
    ]

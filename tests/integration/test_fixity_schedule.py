"""`dock store verify` with no --share checks 1/(period_days*runs_per_day) of the store per
run, oldest check first, and says which share it checked and since when the whole store is
covered; --all checks everything. Each check is a PREMIS-style row: object, outcome, time."""

from __future__ import annotations

import math
from datetime import datetime

from typer.testing import CliRunner

from dock.cli import app
from tests.integration.test_offload import journal_entries

runner = CliRunner()


def verify(dock, *args, fixity="period_days = 2\nruns_per_day = 1\n"):
    config = dock.tmp_path / "dock.toml"
    config.write_text(
        f'[dock]\ndata_dir = "{dock.settings.dock.data_dir}"\n[fixity]\n{fixity}', encoding="utf-8"
    )
    return runner.invoke(app, ["--config", str(config), "store", "verify", *args])


def docked(dock, clips=4):
    recorder = dock.recorder("ZFY81001", clip_count=clips)
    dock.start()
    dock.plug(recorder, 1)
    dock.next_result()
    return sorted(p.name for p in dock.store.objects_dir.rglob("*") if p.is_file())


def checked_in(dock, after_row=0):
    return [e for e in journal_entries(dock, "store.object_checked") if e.id > after_row]


def test_scheduled_runs_check_their_share_oldest_first_and_cover_the_store_in_the_period(dock):
    objects = docked(dock)
    first = verify(dock)
    assert first.exit_code == 0, first.output
    per_run = math.ceil(len(objects) / 2)
    assert f"{per_run} of {len(objects)} object(s)" in first.stdout
    assert "share 0.5 of the store this run; whole store not yet covered" in first.stdout
    once = {e.data["sha256"] for e in checked_in(dock)}
    assert len(once) == per_run
    last_row = checked_in(dock)[-1].id
    second = verify(dock)
    assert second.exit_code == 0, second.output
    twice = {e.data["sha256"] for e in checked_in(dock, last_row)}
    assert twice >= set(objects) - once  # the never-checked ones come first
    assert len(twice) == per_run
    assert "whole store last covered since " in second.stdout
    verified = journal_entries(dock, "store.verified")[-1]
    covered = datetime.fromisoformat(verified.data["covered_since"])
    latest = {e.data["sha256"]: e.at_utc for e in checked_in(dock)}  # in row order
    assert covered == min(latest.values())


def test_all_checks_every_object_and_each_check_is_a_premis_fixity_event(dock):
    objects = docked(dock, clips=3)
    everything = verify(dock, "--all", fixity="period_days = 30\n")
    assert everything.exit_code == 0, everything.output
    assert (
        f"{len(objects)} of {len(objects)} object(s)" in everything.stdout
        and "all of the store" in everything.stdout
    )
    rows = checked_in(dock)
    assert sorted(e.data["sha256"] for e in rows) == objects  # the object
    assert {e.data["outcome"] for e in rows} == {"intact"}  # the outcome
    assert {e.data["algorithm"] for e in rows} == {"sha256"}
    assert all(e.at_utc.tzinfo is not None for e in rows)  # the time, aware UTC
    assert all(e.actor for e in rows)  # the agent
    both = verify(dock, "--all", "--share", "0.5")
    assert both.exit_code != 0 and "Traceback" not in both.output


def test_an_explicit_share_still_overrides_the_schedule(dock):
    objects = docked(dock, clips=4)
    some = verify(dock, "--share", "0.25", fixity="period_days = 1\n")
    assert some.exit_code == 0, some.output
    assert (
        f"{math.ceil(len(objects) / 4)} of {len(objects)} object(s)" in some.stdout
        and "share 0.25" in some.stdout
    )

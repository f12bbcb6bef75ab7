"""`dock interruptions|exemption|compliance` on a dock that offloaded real simulated shifts.

The recorders run the real firmware on real ptys; the notes are real WAVs spoken by
espeak-ng (Mandarin) or silence made by sox; the database is real SQLite.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from hashlib import sha256

import pytest
from typer.testing import CliRunner

from dock import journal
from dock.bays.states import BayState
from dock.cli import app
from dock.cli.interruption_commands import CLIP_COUNTS_SQL
from dock.db.models import ExemptionRow, InterruptionRow
from dock.offload.store import EvidenceStore
from firmware_bridge import messages
from hw.microphone import make_silence, speak

runner = CliRunner()
SERIAL = "ZFY60001"
OFFICER = "000001"  # the conftest's first officer


def cli(dock, *args):
    config = dock.tmp_path / "dock.toml"
    config.write_text(f'[dock]\ndata_dir = "{dock.settings.dock.data_dir}"\n', encoding="utf-8")
    return runner.invoke(app, ["--config", str(config), *args], env={"COLUMNS": "300"})


def docked(dock, clip_count=12, trim_log=0):
    """A recorder docked and offloaded: with 12 clips, four interruptions, the fourth unnoted."""
    recorder = dock.recorder(SERIAL, clip_count=clip_count)
    if trim_log:
        del recorder.board.event_log[-trim_log:]
    dock.start()
    dock.plug(recorder, 1)
    _, result = dock.next_result()
    assert result.state is BayState.READY
    return recorder


def rows(dock) -> dict[str, InterruptionRow]:
    with dock.db.transaction() as session:
        found = {r.key: r for r in session.query(InterruptionRow)}
        session.expunge_all()
    return found


def journaled(dock, type_):
    with dock.db.transaction() as session:
        return [e for e in journal.read_after(session, 0, limit=100_000) if e.type == type_]


def unexplained_key(dock) -> str:
    [key] = [k for k, r in rows(dock).items() if r.status == "unexplained"]
    return key


def test_the_listing_filters_by_officer_device_and_unexplained(dock):
    docked(dock)
    everything = cli(dock, "interruptions", "--officer", OFFICER)
    assert everything.exit_code == 0, everything.output
    assert everything.stdout.count(f"{SERIAL}:event:") == 4
    only = cli(dock, "interruptions", "--unexplained")
    assert only.stdout.count(f"{SERIAL}:event:") == 1
    assert unexplained_key(dock) in only.stdout
    assert "weather" in only.stdout  # the fourth reason in the simulator's cycle
    assert SERIAL not in cli(dock, "interruptions", "--device", "NOBODY").stdout
    later = cli(dock, "interruptions", "--since", "2026-11-24")
    assert SERIAL not in later.stdout
    bad = cli(dock, "interruptions", "--since", "yesterday")
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [
        "error: --since 'yesterday' is not a date or time: use e.g. 2026-11-23T08:00"
    ]


def test_a_spoken_note_attached_from_the_cli_is_stored_read_only_linked_and_journaled(
    dock, tmp_path
):
    docked(dock)
    key = unexplained_key(dock)
    note = tmp_path / "note.wav"
    speak("天气恶劣，录像中断，现已恢复", note)
    attached = cli(dock, "interruptions", "attach", key, str(note))
    assert attached.exit_code == 0, attached.output
    digest = sha256(note.read_bytes()).hexdigest()
    assert attached.stdout.strip() == f"interruption {key} explained by voice note {digest}"
    row = rows(dock)[key]
    assert (row.status, row.explained_via, row.note_sha256) == (
        "explained_by_voice",
        "dock",
        digest,
    )
    stored = EvidenceStore(dock.settings.dock.data_dir / "store", reserve_bytes=0).path_of(digest)
    assert stored.read_bytes() == note.read_bytes()
    assert stat.S_IMODE(os.stat(stored).st_mode) & 0o222 == 0
    [explained] = [e for e in journaled(dock, "interruption.explained") if e.data["key"] == key]
    assert explained.data["note_sha256"] == digest
    assert explained.device == SERIAL
    again = cli(dock, "interruptions", "attach", key, str(note))
    assert again.exit_code == 1
    assert again.output.strip() == (
        f"error: interruption {key} is already explained_by_voice: nothing changed"
    )


def test_a_silent_note_is_refused_and_nothing_is_stored(dock, tmp_path):
    docked(dock)
    key = unexplained_key(dock)
    silent = tmp_path / "silent.wav"
    make_silence(silent, 3)
    refused = cli(dock, "interruptions", "attach", key, str(silent))
    assert refused.exit_code == 1
    [line] = refused.output.strip().splitlines()
    assert line.startswith("error: voice note has no speech")
    assert rows(dock)[key].status == "unexplained"
    store = EvidenceStore(dock.settings.dock.data_dir / "store", reserve_bytes=0)
    assert not store.has(sha256(silent.read_bytes()).hexdigest())


def test_a_written_explanation_only_for_one_that_did_not_resume(dock):
    # Three clips, the third interrupted: drop its RESUMED and VOICE_NOTE, so it never resumed.
    docked(dock, clip_count=3, trim_log=2)
    found = rows(dock)
    [key] = found
    assert found[key].end_utc is None
    explained = cli(
        dock,
        "interruptions",
        "explain",
        key,
        "--approver",
        "Unit head Li",
        "--text",
        "battery died",
    )
    assert explained.exit_code == 0, explained.output
    row = rows(dock)[key]
    assert (row.status, row.approver, row.explanation) == (
        "explained_in_writing",
        "Unit head Li",
        "battery died",
    )
    [entry] = journaled(dock, "interruption.explained")
    assert (entry.data["approver"], entry.data["text"]) == ("Unit head Li", "battery died")
    listed = cli(dock, "interruptions")
    assert "explained_in_writing (Unit head Li)" in listed.stdout
    assert "did not resume" in listed.stdout


def test_a_written_explanation_is_refused_for_one_that_resumed(dock):
    docked(dock)
    key = unexplained_key(dock)
    refused = cli(dock, "interruptions", "explain", key, "--approver", "Li", "--text", "rain")
    assert refused.exit_code == 1
    assert refused.output.strip().startswith(f"error: interruption {key} resumed:")
    assert rows(dock)[key].status == "unexplained"


def test_an_exemption_is_recorded_and_journaled_and_a_wrong_category_refused(dock):
    docked(dock, clip_count=1)
    added = cli(
        dock,
        "exemption", "add",
        "--category", "personal_privacy",
        "--at", "2026-11-23T09:30:00+08:00",
        "--place", "Hospital ward 3",
        "--officer", OFFICER,
        "--approver", "Unit head Li",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    with dock.db.transaction() as session:
        [row] = session.query(ExemptionRow).all()
        assert (row.category, row.place, row.officer_number, row.approver) == (
            "personal_privacy",
            "Hospital ward 3",
            OFFICER,
            "Unit head Li",
        )
        assert row.at_utc.isoformat() == "2026-11-23T01:30:00+00:00"
    [entry] = journaled(dock, "interruption.exemption_recorded")
    assert entry.data["category"] == "personal_privacy"
    listed = cli(dock, "exemption", "list", "--officer", OFFICER)
    assert listed.exit_code == 0, listed.output
    assert "2026-11-23 01:30:00 UTC" in listed.stdout
    assert "personal privacy (涉及个人隐私)" in listed.stdout and "Hospital ward 3" in listed.stdout
    assert "Hospital" not in cli(dock, "exemption", "list", "--officer", "999").stdout
    wrong = cli(
        dock, "exemption", "add", "--category", "secret", "--at", "2026-11-23",
        "--place", "x", "--officer", OFFICER, "--approver", "Li",
    )  # fmt: skip
    assert wrong.exit_code == 1
    assert wrong.output.strip().startswith("error: unknown exemption category 'secret': use one")


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_the_compliance_counts_are_exact_for_a_crafted_period(dock, fmt):
    docked(dock)  # 12 clips and 3 voice-note clips; interruptions: fault, battery, storage
    # (each noted) and weather (not); all handed over long after the 24 h limit
    for at in ("2026-11-23T10:00:00", "2026-11-30T10:00:00"):  # the second outside the period
        cli(
            dock, "exemption", "add", "--category", "emergency", "--at", at,
            "--place", "Main St", "--officer", "000009", "--approver", "Li",
        )  # fmt: skip
    shown = cli(
        dock, "compliance", "--since", "2026-11-23", "--until", "2026-11-25", "--format", fmt
    )
    assert shown.exit_code == 0, shown.output
    if fmt == "json":
        report = json.loads(shown.stdout)
        officers = {o["officer_number"]: o for o in report["officers"]}
        assert set(officers) == {OFFICER, "000009"}
        mine = officers[OFFICER]
        assert (
            mine["clips"],
            mine["late_handovers"],
            mine["interruptions"],
            mine["explained_by_voice"],
            mine["explained_in_writing"],
            mine["unexplained"],
        ) == (15, 15, 4, 3, 0, 1)
        assert [(r["code"], r["explained"], r["unexplained"]) for r in mine["by_reason"]] == [
            (messages.REASON_FAULT, 1, 0),
            (messages.REASON_BATTERY, 1, 0),
            (messages.REASON_STORAGE, 1, 0),
            (messages.REASON_WEATHER, 0, 1),
        ]
        assert mine["exemptions"] == {}
        assert officers["000009"]["exemptions"] == {"emergency": 1}
        assert officers["000009"]["clips"] == 0
    elif fmt == "csv":
        header, *lines = shown.stdout.splitlines()
        assert len(lines) == 2
        columns = header.split(",")
        mine = dict(zip(columns, lines[0].split(","), strict=True))
        assert lines[0].startswith(OFFICER + ",")
        assert (mine["clips"], mine["unexplained"], mine["exemption_emergency"]) == ("15", "1", "0")
        theirs = dict(zip(columns, lines[1].split(","), strict=True))
        assert theirs["exemption_emergency"] == "1"
    else:
        assert "weather 1" in shown.stdout.lower()
        assert "emergency 1" in shown.stdout


def test_the_compliance_clip_count_reads_the_index_alone(dock):
    docked(dock, clip_count=1)
    with sqlite3.connect(dock.settings.database_path) as raw:
        plan = raw.execute(
            "EXPLAIN QUERY PLAN " + CLIP_COUNTS_SQL, ("2026-01-01", "2027-01-01")
        ).fetchall()
    assert any(
        "USING COVERING INDEX ix_clips_recorded_officer_late" in step[-1] for step in plan
    ), plan

"""`dock serve` as a real process: it docks simulated recorders, then stops cleanly on SIGTERM.

What "cleanly" means here: exit status 0, no traceback, a journal whose chain is intact,
and every bay row agreeing with the last move the journal recorded for that bay.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import select

from dock import journal
from dock.db.database import open_database
from dock.db.models import Bay
from dock.simulated_process import SimulatedDockProcess

WAIT_S = 30


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "dock.toml"
    path.write_text('[dock]\ndata_dir = "data"\n[link]\ntimeout_s = 0.5\n', encoding="utf-8")
    return path


def last_moves(session) -> dict[int, dict]:
    moves: dict[int, dict] = {}
    cursor = 0
    while rows := journal.read_after(session, cursor, limit=500):
        for row in rows:
            if row.type == "bay.state_changed":
                moves[row.bay] = {"state": row.data["to_state"], "device": row.device}
        cursor = rows[-1].id
    return moves


def test_serve_stops_on_sigterm_with_exit_0_intact_journal_and_consistent_bays(config, tmp_path):
    with SimulatedDockProcess(config, 3) as dock:
        verdicts = dock.wait_for_verdicts(3, WAIT_S)
        status = dock.stop()
    assert status == 0, dock.stderr_lines
    assert not any("Traceback" in line for line in dock.stderr_lines)
    assert dock.stdout_lines[-1] == "dock stopped"
    assert {bay: word for bay, (word, _) in verdicts.items()} == {
        1: "READY",
        2: "NOT READY",
        3: "READY",
    }
    db = open_database(tmp_path / "data")
    try:
        with db.transaction() as session:
            assert journal.verify(session).is_intact
            rows = {row.number: row for row in session.scalars(select(Bay))}
            moves = last_moves(session)
    finally:
        db.close()
    assert sorted(rows) == [1, 2, 3, 4]  # the default four bays, three of them occupied
    for number in (1, 2, 3):
        assert moves[number]["state"] == rows[number].state
        assert moves[number]["device"] == rows[number].device_serial == f"SIM0000{number}"
    assert rows[4].state == "empty" and 4 not in moves
    assert not (tmp_path / "data" / "control.sock").exists()


def test_low_battery_and_clock_two_hours_off_are_what_a_person_sees(config):
    with SimulatedDockProcess(config, 3) as dock:
        verdicts = dock.wait_for_verdicts(3, WAIT_S)
        assert dock.stop() == 0
    assert "battery 12%" in verdicts[2][1]
    clock_lines = [line for line in dock.stdout_lines if "clock was" in line]
    assert len(clock_lines) == 1 and clock_lines[0].startswith("bay 3 SIM00003: ")
    assert "7200 s fast" in clock_lines[0]


def test_simulated_recorders_paired_on_the_first_start_prove_their_key_on_the_next(config):
    for _ in range(2):
        with SimulatedDockProcess(config, 1) as dock:
            verdicts = dock.wait_for_verdicts(1, WAIT_S)
            assert dock.stop() == 0
        assert verdicts == {1: ("READY", "")}


def test_a_second_serve_on_the_same_data_is_refused_in_one_line(config):
    with SimulatedDockProcess(config, 1) as first:
        first.wait_for_verdicts(1, WAIT_S)
        second = subprocess.run(
            [sys.executable, "-m", "dock.cli", "--config", str(config), "serve", "--simulate", "1"],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
        )
        db = open_database(config.parent / "data")
        try:
            with db.transaction() as session:
                first_bay = session.get(Bay, 1)
                assert first_bay is not None and first_bay.state == "ready"
        finally:
            db.close()
        assert first.stop() == 0
    assert second.returncode == 1
    assert second.stderr.startswith("error: another dock service is already running here")
    assert second.stderr.count("\n") == 1


def test_serve_with_a_wrong_config_value_exits_1_naming_the_key(tmp_path):
    bad = tmp_path / "dock.toml"
    bad.write_text('[dock]\ndata_dir = "data"\n[bays]\ncount = 99\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "dock.cli", "--config", str(bad), "serve"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert result.returncode == 1
    assert result.stderr == "error: config: bays.count = 99: must be an integer from 1 to 16\n"

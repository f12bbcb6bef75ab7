"""The service's sweep alerts an overdue interruption whose recorder never docks again.

A real SQLite database and an injected clock: the interruption is found at a docking, then
the recorder is gone; only the sweep can raise its alert, once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from dock import journal
from dock.clock import FixedClock
from dock.config import InterruptionSettings
from dock.db.database import open_database
from dock.db.models import RecorderEventRow
from dock.interruptions.overdue_sweep import OverdueSweeper, sweep_overdue
from dock.interruptions.reading import update_interruptions
from firmware_bridge import messages

SERIAL = "ZFY20001"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _alerts(db) -> list[journal.JournalEntry]:
    with db.transaction() as session:
        entries = journal.read_after(session, 0, limit=10_000)
        return [e for e in entries if e.type == "interruption.overdue"]


def _docked_once(tmp_path):
    db = open_database(tmp_path)
    clock = FixedClock(START + timedelta(hours=1))
    with db.transaction() as session:
        session.add(
            RecorderEventRow(
                device_serial=SERIAL,
                log_index=0,
                utc_s=int(START.timestamp()),
                kind=messages.EVENT_INTERRUPTED,
                reason=messages.REASON_WEATHER,
                clip_path="",
                read_at_utc=clock.now_utc(),
            )
        )
    settings = InterruptionSettings()
    unexplained = update_interruptions(db, SERIAL, 1, clock, settings)
    assert len(unexplained) == 1
    return db, clock, settings


def test_an_overdue_interruption_is_alerted_once_though_its_recorder_never_docks_again(tmp_path):
    db, clock, settings = _docked_once(tmp_path)
    try:
        assert sweep_overdue(db, clock, settings) == 0  # an hour old: not overdue yet
        assert _alerts(db) == []
        clock.advance(72 * 3600)  # 73 h after it started, past the 72 h limit
        assert sweep_overdue(db, clock, settings) == 1
        clock.advance(600)
        assert sweep_overdue(db, clock, settings) == 0  # alerted already: nothing again
        alerts = _alerts(db)
        assert [(a.device, a.data["limit_hours"]) for a in alerts] == [(SERIAL, 72.0)]
    finally:
        db.close()


def test_the_overdue_sweeper_waits_on_its_stop_event_and_stops_at_once(tmp_path):
    db, clock, settings = _docked_once(tmp_path)
    clock.advance(80 * 3600)
    try:
        sweeper = OverdueSweeper(db, clock, settings, every_s=3600)
        sweeper.start()
        sweeper.stop()  # blocked in its hour-long wait: the stop wakes it before any sweep
        assert not sweeper._thread.is_alive()
        assert _alerts(db) == []
        fast = OverdueSweeper(db, clock, settings, every_s=0.01)
        fast.start()
        deadline = time.monotonic() + 10
        while not _alerts(db) and time.monotonic() < deadline:
            time.sleep(0.02)
        fast.stop()
        assert len(_alerts(db)) == 1
    finally:
        db.close()

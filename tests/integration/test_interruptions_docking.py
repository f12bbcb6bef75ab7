"""Docking reads the recorder's event log from a saved cursor and keeps its interruptions.

Real simulated recorders on real ptys, a real SQLite database: the cursor must survive a
dock restart without re-reading or skipping an event, and a recorder that lost power (no
event at all) still shows its interruption, found by the gap between two segments.
"""

from __future__ import annotations

import re
import sqlite3

from dock import journal
from dock.bays.states import BayState
from firmware_bridge import messages

SERIAL = "ZFY10001"


def journal_rows(dock, type_: str) -> list[journal.JournalEntry]:
    with dock.db.transaction() as session:
        return [e for e in journal.read_after(session, 0, limit=100_000) if e.type == type_]


def restart(dock) -> None:
    dock.stop_event.set()
    dock.thread.join(30)
    assert not dock.thread.is_alive()
    dock.start()


def stored(dock) -> tuple[int | None, list[int]]:
    """(the saved cursor, every stored event index), read from the file as a new process would."""
    with sqlite3.connect(dock.settings.database_path) as connection:
        cursor = connection.execute(
            "SELECT next_cursor FROM recorder_event_cursors WHERE device_serial = ?", (SERIAL,)
        ).fetchone()
        indexes = connection.execute(
            "SELECT log_index FROM recorder_events WHERE device_serial = ? ORDER BY log_index",
            (SERIAL,),
        ).fetchall()
    return (cursor[0] if cursor else None), [i for (i,) in indexes]


def dock_and_wait(dock, recorder, bay: int = 1) -> None:
    dock.plug(recorder, bay)
    number, result = dock.next_result()
    assert number == bay
    assert result.state is BayState.READY


def test_a_cursor_resumes_after_the_dock_restarts_without_rereading_or_missing_events(dock):
    recorder = dock.recorder(SERIAL, clip_count=6)  # clips 3 and 6 end in interruptions
    first_log = recorder.board.events()
    dock.start()
    dock_and_wait(dock, recorder)
    assert stored(dock) == (len(first_log), list(range(len(first_log))))
    dock.unplug(recorder, 1)
    dock.wait_for_state(1, BayState.EMPTY)

    restart(dock)
    # Out on a new shift: the recorder logs one more interruption after the dock's read.
    last_s = first_log[-1]["utc_s"]
    for kind, reason, at_s in (
        (messages.EVENT_INTERRUPTED, messages.REASON_WEATHER, last_s + 100),
        (messages.EVENT_RESUMED, messages.REASON_NONE, last_s + 400),
    ):
        recorder.board.event_log.append(
            {
                "index": len(recorder.board.event_log),
                "utc_s": at_s,
                "kind": kind,
                "reason": reason,
                "clip_path": "",
            }
        )
    dock_and_wait(dock, recorder)

    total = len(first_log) + 2
    assert stored(dock) == (total, list(range(total)))
    reads = [
        (e.data["from_cursor"], e.data["next_cursor"], e.data["count"])
        for e in journal_rows(dock, "interruption.events_read")
    ]
    assert reads == [(0, len(first_log), len(first_log)), (len(first_log), total, 2)]
    found = journal_rows(dock, "interruption.found")
    # Two from the first shift, journaled once each; the new one once, with its reason.
    assert [e.data["key"] for e in found] == [
        f"{SERIAL}:event:{i}"
        for i, ev in enumerate(recorder.board.events())
        if ev["kind"] == messages.EVENT_INTERRUPTED
    ]
    assert found[-1].data["reason_code"] == messages.REASON_WEATHER
    assert found[-1].data["status"] == "unexplained"


def test_a_recorder_note_explains_its_interruption_and_an_unexplained_one_asks_for_a_note(dock):
    recorder = dock.recorder(SERIAL, clip_count=12)  # four interruptions, the fourth unnoted
    dock.start()
    dock_and_wait(dock, recorder)
    found = journal_rows(dock, "interruption.found")
    assert [e.data["status"] for e in found] == ["explained_by_voice"] * 3 + ["unexplained"]
    asked = journal_rows(dock, "interruption.notes_needed")
    assert [e.data["keys"] for e in asked] == [[found[3].data["key"]]]
    assert asked[0].data["officer_number"] == "000001"
    assert asked[0].bay == 1
    [line] = asked[0].data["described"]
    assert re.fullmatch(
        r"2026-11-23 \d\d:\d\d:\d\d UTC bad weather \(恶劣天气\), \d+ s, "
        r"found by event_log, unexplained",
        line,
    ), line


def test_a_recorder_that_lost_power_shows_an_interruption_found_by_the_gap(dock):
    recorder = dock.recorder(SERIAL, clip_count=2)  # no interruption logged
    log = recorder.board.event_log
    # Power lost at the end of the first clip: its RECORDING_STOPPED was never written.
    del log[1]
    assert [e["kind"] for e in log[:2]] == [messages.EVENT_RECORDING_STARTED] * 2
    for i, entry in enumerate(log):
        entry["index"] = i
    dock.start()
    dock_and_wait(dock, recorder)
    found = journal_rows(dock, "interruption.found")
    assert len(found) == 1
    gap = found[0].data
    assert gap["found"] == "gap"
    assert gap["status"] == "unexplained"
    assert gap["reason_code"] == messages.REASON_NONE
    assert gap["officer_number"] == "000001"
    assert gap["key"].startswith(f"{SERIAL}:gap:")


def test_an_interruption_unexplained_past_the_limit_is_an_alert_once(dock):
    # The simulated shift is from 2026-11-23, days before now: past the 72 h default.
    recorder = dock.recorder(SERIAL, clip_count=12)  # the fourth interruption is unnoted
    dock.start()
    dock_and_wait(dock, recorder)
    dock.unplug(recorder, 1)
    dock.wait_for_state(1, BayState.EMPTY)
    dock_and_wait(dock, recorder)  # docked again: nothing new, no second alert
    [unexplained] = [
        e.data["key"]
        for e in journal_rows(dock, "interruption.found")
        if e.data["status"] == "unexplained"
    ]
    alerts = journal_rows(dock, "interruption.overdue")
    assert [(a.data["key"], a.data["limit_hours"]) for a in alerts] == [(unexplained, 72.0)]
    assert len(journal_rows(dock, "interruption.notes_needed")) == 2  # asked at each docking


def test_a_recorder_log_shorter_than_the_cursor_is_journaled_and_nothing_is_overwritten(dock):
    recorder = dock.recorder(SERIAL, clip_count=3)
    first_log = recorder.board.events()
    dock.start()
    dock_and_wait(dock, recorder)
    dock.unplug(recorder, 1)
    dock.wait_for_state(1, BayState.EMPTY)
    del recorder.board.event_log[2:]  # wiped and begun again (a reflash, a new board)
    dock_and_wait(dock, recorder)
    assert stored(dock) == (len(first_log), list(range(len(first_log))))
    [shrank] = journal_rows(dock, "interruption.events_log_shrank")
    assert (shrank.data["cursor"], shrank.data["total"], shrank.device) == (
        len(first_log),
        2,
        SERIAL,
    )
    assert len(journal_rows(dock, "interruption.events_read")) == 1

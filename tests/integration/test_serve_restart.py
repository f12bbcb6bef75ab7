"""A dock restart is not a departure: what the ledger and the journal say across one.

The service is stopped and a new one started on the same database, as a restarted process
would be; the recorder stays plugged on its pty the whole time, as it stays in its bay.
"""

from __future__ import annotations

from sqlalchemy import select

from dock import journal
from dock.bays.states import BayState
from dock.db.models import Bay, Custody
from dock.service import RESUMED


def journal_types(dock, after: int = 0) -> list[str]:
    with dock.db.transaction() as session:
        return [row.type for row in journal.read_after(session, after, limit=10_000)]


def last_journal_id(dock) -> int:
    with dock.db.transaction() as session:
        rows = journal.read_after(session, 0, limit=100_000)
        return rows[-1].id if rows else 0


def restart(dock) -> None:
    dock.stop_event.set()
    dock.thread.join(30)
    assert not dock.thread.is_alive()
    dock.start()


def custody_rows(dock) -> list[tuple[str, int, bool]]:
    """(serial, bay taken from, is returned) of every issue in the ledger."""
    with dock.db.transaction() as session:
        return [
            (row.device.serial, row.bay, row.returned_at is not None)
            for row in session.scalars(select(Custody))
        ]


def docked_ready(dock, serial="ZFY10001"):
    recorder = dock.recorder(serial)
    dock.start()
    dock.plug(recorder, 1)
    _, result = dock.next_result()
    assert result.state is BayState.READY
    return recorder


def test_a_ready_recorder_left_in_its_bay_across_a_restart_is_not_issued_or_returned(dock):
    recorder = docked_ready(dock)
    before = last_journal_id(dock)
    restart(dock)
    dock.hotplug.attach("1-1.1", recorder.port)  # the start-up scan finds it still there
    dock.hotplug.scan_done()
    _, result = dock.next_result()
    assert result.state is BayState.READY
    types = journal_types(dock, before)
    assert "recorder.issued" not in types and "recorder.returned" not in types
    assert "recorder.undocked" not in types and "recorder.docked" not in types
    assert "check.completed" in types  # it was checked again, from where it stood
    assert custody_rows(dock) == []
    with dock.db.transaction() as session:
        moves = [
            row.data
            for row in journal.read_after(session, before, limit=1000)
            if row.type == "bay.state_changed"
        ]
        assert journal.verify(session).is_intact
    assert moves[0]["from_state"] == "ready" and moves[0]["reason"] == RESUMED
    assert all(move["to_state"] != "empty" for move in moves)


def test_a_ready_recorder_taken_out_while_the_dock_was_stopped_is_issued_at_the_scan(dock):
    recorder = docked_ready(dock)
    recorder.unplug()  # taken out while no dock was watching
    restart(dock)
    dock.hotplug.scan_done()  # and the start-up scan does not find it
    row = dock.wait_for_state(1, BayState.EMPTY)
    assert row.device_serial is None
    assert custody_rows(dock) == [("ZFY10001", 1, False)]


def test_a_different_recorder_found_in_the_bay_after_a_restart_issues_the_first(dock):
    first = docked_ready(dock)
    second = dock.recorder("ZFY10002")
    first.unplug()
    restart(dock)
    dock.plug(second, 1)  # someone swapped them while the dock was stopped
    dock.hotplug.scan_done()
    _, result = dock.next_result()
    assert result.state is BayState.READY and result.identity.device_serial == "ZFY10002"
    assert custody_rows(dock) == [("ZFY10001", 1, False)]


def test_a_dock_that_died_mid_offload_resumes_the_same_recorder_through_fault_not_undocked(dock):
    recorder = docked_ready(dock)
    restart_from = last_journal_id(dock)
    dock.stop_event.set()
    dock.thread.join(30)
    with dock.db.transaction() as session:  # as a SIGKILL mid-offload leaves the bay row
        session.get(Bay, 1).state = BayState.OFFLOADING
    dock.start()
    dock.hotplug.attach("1-1.1", recorder.port)
    dock.hotplug.scan_done()
    _, result = dock.next_result()
    assert result.state is BayState.READY
    with dock.db.transaction() as session:
        moves = [
            (row.data["from_state"], row.data["to_state"])
            for row in journal.read_after(session, restart_from, limit=1000)
            if row.type == "bay.state_changed"
        ]
    assert moves[:2] == [("offloading", "fault"), ("fault", "identifying")]
    assert ("ready", "empty") not in moves and custody_rows(dock) == []

"""Docking over real ptys: the simulator runs the real firmware, the dock runs its bays.

Each test docks a recorder with one thing wrong and reads the verdict the way an officer
would (the bay's state and reasons) and the way an auditor would (the ledger and journal).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select

from dock import journal, ledger
from dock.bays.states import BayState
from dock.db.models import Custody
from firmware_bridge import messages
from firmware_bridge.sim import Faults


def dock_one(dock, **recorder_args):
    recorder = dock.recorder("ZFY10001", **recorder_args)
    dock.start()
    dock.plug(recorder, 1)
    bay, result = dock.next_result()
    assert bay == 1
    return recorder, result


def reason_codes(result) -> list[str]:
    return [r.code for r in result.verdict.reasons]


def test_a_fit_paired_assigned_recorder_is_ready(dock):
    _, result = dock_one(dock)
    assert result.state is BayState.READY
    assert dock.bay_row(1).reason == "READY"


def test_low_battery_is_not_ready(dock):
    _, result = dock_one(dock, battery_pct=12)
    assert result.state is BayState.ATTENTION
    assert reason_codes(result) == ["battery"]
    assert "12%" in dock.bay_row(1).reason


def test_full_card_is_not_ready(make_dock):
    dock = make_dock(offload={"delete_policy": "never"})  # the clips stay on the card
    recorder = dock.recorder("ZFY10002")
    recorder.storage.capacity_bytes = 20_000  # the clips fill all but a few KB
    dock.start()
    dock.plug(recorder, 2)
    _, result = dock.next_result()
    assert result.state is BayState.ATTENTION
    assert reason_codes(result) == ["storage"]


def test_clock_two_hours_off_is_set_read_back_and_ready(dock):
    recorder, result = dock_one(dock, clock_skew_s=7200)
    assert result.state is BayState.READY
    assert abs(recorder.board.now_ms() / 1000 - datetime.now(UTC).timestamp()) < 2
    with dock.db.transaction() as session:
        types = [e.type for e in journal.latest(session, limit=50, device="ZFY10001")]
    assert "recorder.clock_set" in types


def test_unsynchronised_dock_does_not_set_the_clock_and_says_why(make_dock):
    dock = make_dock(is_clock_synced=False)
    recorder, result = dock_one(dock, clock_skew_s=7200)
    assert result.state is BayState.ATTENTION
    assert reason_codes(result) == ["dock_clock"]
    assert abs(recorder.board.now_ms() / 1000 - datetime.now(UTC).timestamp()) > 7000


def test_unknown_firmware_is_not_ready(dock):
    _, result = dock_one(dock, firmware_version="0.9.9")
    assert result.state is BayState.ATTENTION
    assert reason_codes(result) == ["firmware"]


def test_unregistered_serial_is_not_ready_and_names_the_serial(dock):
    _, result = dock_one(dock, register=False, pair=False, assign=False)
    assert result.state is BayState.ATTENTION
    assert reason_codes(result) == ["unregistered"]
    assert "ZFY10001" in dock.bay_row(1).reason


def test_wrong_pairing_key_is_not_ready(dock):
    _, result = dock_one(dock, pair=False, key=b"\x55" * 32)
    assert result.state is BayState.ATTENTION
    assert reason_codes(result) == ["key_not_proven"]


def test_recorder_under_repair_is_not_ready(dock):
    recorder = dock.recorder("ZFY10001")
    with dock.db.transaction() as session:
        ledger.set_maintenance(
            session, "ZFY10001", "under_repair", actor="custodian", at=datetime.now(UTC)
        )
    dock.start()
    dock.plug(recorder, 1)
    _, result = dock.next_result()
    assert result.state is BayState.ATTENTION
    assert reason_codes(result) == ["maintenance"]


def test_recorder_speaking_another_protocol_version_needs_attention(dock):
    old = messages.PROTOCOL_VERSION - 1
    _, result = dock_one(dock, pair=False, faults=Faults(protocol_version=old))
    assert result.state is BayState.ATTENTION
    assert f"v{old}" in dock.bay_row(1).reason and "reflash" in dock.bay_row(1).reason


def test_protocol_mismatch_names_the_recorders_serial(dock, caplog):
    old = messages.PROTOCOL_VERSION - 1
    with caplog.at_level(logging.WARNING, logger="dock.bays.docking"):
        _, result = dock_one(dock, pair=False, faults=Faults(protocol_version=old))
    row = dock.bay_row(1)
    assert result.state is BayState.ATTENTION
    assert "recorder ZFY10001 speaks protocol" in row.reason
    assert row.device_serial == "ZFY10001"
    lines = [r.getMessage() for r in caplog.records if r.name == "dock.bays.docking"]
    assert any("bay 1: recorder ZFY10001 speaks protocol" in line for line in lines)


def test_undocking_a_ready_recorder_issues_it_to_its_officer(dock):
    recorder, result = dock_one(dock)
    assert result.state is BayState.READY
    dock.unplug(recorder, 1)
    dock.wait_for_state(1, BayState.EMPTY)
    with dock.db.transaction() as session:
        holder = ledger.current_holder(session, "ZFY10001")
        assert holder is not None and holder.officer_number == "000001"
    # Docking it again is its return.
    dock.plug(recorder, 1)
    _, result = dock.next_result()
    assert result.state is BayState.READY
    with dock.db.transaction() as session:
        assert ledger.current_holder(session, "ZFY10001") is None
        custody = session.scalars(select(Custody)).one()
        assert custody.returned_at is not None


def test_undocking_a_not_ready_recorder_issues_nothing(dock):
    recorder, result = dock_one(dock, battery_pct=10)
    dock.unplug(recorder, 1)
    dock.wait_for_state(1, BayState.EMPTY)
    with dock.db.transaction() as session:
        assert ledger.current_holder(session, "ZFY10001") is None


def test_recorder_pulled_out_while_identifying_leaves_the_bay_empty_and_journaled(dock):
    # A recorder that never answers keeps the bay identifying until it is pulled out.
    recorder = dock.recorder("ZFY10001", pair=False, faults=Faults(ignore_requests=10**6))
    dock.start()
    dock.plug(recorder, 1)
    dock.wait_for_state(1, BayState.IDENTIFYING)
    dock.unplug(recorder, 1)
    _, result = dock.next_result()
    assert result.state is BayState.FAULT
    row = dock.wait_for_state(1, BayState.EMPTY)
    assert row.device_serial is None
    with dock.db.transaction() as session:
        moves = [
            (e.data["from_state"], e.data["to_state"])
            for e in journal.read_after(session, 0, limit=500)
            if e.type == "bay.state_changed" and e.bay == 1
        ]
        assert moves == [("empty", "identifying"), ("identifying", "fault"), ("fault", "empty")]
        assert journal.verify(session).is_intact


def test_four_bays_at_once_each_get_their_own_verdict(dock):
    recorders = [
        dock.recorder("ZFY20001"),
        dock.recorder("ZFY20002", battery_pct=20),
        dock.recorder("ZFY20003", clock_skew_s=-3600),
        dock.recorder("ZFY20004", firmware_version="0.1.0"),
    ]
    dock.start()
    for bay, recorder in enumerate(recorders, start=1):
        dock.plug(recorder, bay)
    results = dict(dock.next_result() for _ in recorders)
    assert {bay: r.state for bay, r in results.items()} == {
        1: BayState.READY,
        2: BayState.ATTENTION,
        3: BayState.READY,
        4: BayState.ATTENTION,
    }
    assert reason_codes(results[2]) == ["battery"]
    assert reason_codes(results[4]) == ["firmware"]
    assert {results[b].identity.device_serial for b in results} == {
        "ZFY20001",
        "ZFY20002",
        "ZFY20003",
        "ZFY20004",
    }
    with dock.db.transaction() as session:
        assert journal.verify(session).is_intact


def test_a_dock_bug_mid_docking_leaves_the_bay_in_fault_not_half_way(dock):
    def broken(*_args):
        raise RuntimeError("a bug in a volume adapter")

    dock.volumes.open_volume = broken
    recorder = dock.recorder("ZFY10001")
    dock.start()
    dock.plug(recorder, 1)
    row = dock.wait_for_state(1, BayState.FAULT)
    assert "dock error: RuntimeError" in row.reason
    dock.unplug(recorder, 1)
    dock.wait_for_state(1, BayState.EMPTY)

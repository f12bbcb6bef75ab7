"""Docking over real ptys: the simulator runs the real firmware, the dock runs its bays.

Each test docks a recorder with one thing wrong and reads the verdict the way an officer
would (the bay's state and reasons) and the way an auditor would (the ledger and journal).
"""

from __future__ import annotations

import queue
from pathlib import Path

import pytest
from sqlalchemy import select

from dock import journal, ledger
from dock.bays.states import BayState
from dock.clock import SystemClock
from dock.config import parse_settings
from dock.db.database import open_database
from dock.db.models import Bay, Custody
from dock.events import EventBus
from dock.service import DockService
from firmware_bridge.client import RecorderClient
from firmware_bridge.sim import DirectoryStorage, Faults, SimRecorder, generate_clips
from hw.clock_sync import FakeClockSync
from hw.hotplug import SimulatedHotplug

CLOCK = SystemClock()
ACTOR = "test"
WAIT_S = 20


class Dock:
    """A dock service on a temporary data dir, driven by simulated hot-plug."""

    def __init__(self, tmp_path: Path, *, bays: int = 4, is_clock_synced: bool = True) -> None:
        ports = {f"1-1.{n}": n for n in range(1, bays + 1)}
        self.settings = parse_settings(
            {
                "dock": {"data_dir": str(tmp_path / "data")},
                "bays": {"count": bays, "usb_port_paths": ports},
                "check": {"allowed_firmware": ["1.0.0"], "shift_hours": 1, "bitrate_mbps": 1},
                "link": {"timeout_s": 0.5, "retries": 2},
            },
            base_dir=tmp_path,
            source=None,
        )
        self.db = open_database(self.settings.dock.data_dir, EventBus())
        self.hotplug = SimulatedHotplug()
        self.clock_sync = FakeClockSync(is_clock_synced)
        self.results: queue.Queue = queue.Queue()
        self.tmp_path = tmp_path
        self.recorders: list[SimRecorder] = []
        self.service: DockService | None = None

    def start(self) -> None:
        import threading

        self.service = DockService(
            self.settings,
            self.db,
            self.hotplug,
            clock=CLOCK,
            clock_sync=self.clock_sync,
            on_result=lambda bay, result: self.results.put((bay, result)),
        )
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.service.run, args=(self.stop_event,))
        self.thread.start()

    def stop(self) -> None:
        if self.service is not None:
            self.stop_event.set()
            self.thread.join(30)
        for recorder in self.recorders:
            recorder.stop()
        self.db.close()

    def recorder(self, serial: str, *, register=True, pair=True, assign=True, **sim_args):
        clips, events = generate_clips(3, size_bytes=4096, seed=len(self.recorders))
        storage = DirectoryStorage.create(self.tmp_path / serial, serial, clips)
        sim_args.setdefault("firmware_version", "1.0.0")
        recorder = SimRecorder(storage, serial=serial, clips=clips, events=events, **sim_args)
        self.recorders.append(recorder)
        now = CLOCK.now_utc()
        if register:
            with self.db.transaction() as session:
                ledger.register_device(
                    session,
                    serial=serial,
                    model="ZFY-SIM",
                    firmware_version="1.0.0",
                    actor=ACTOR,
                    at=now,
                )
        if pair:
            with RecorderClient.open(recorder.start()) as client:
                client.hello()
                ledger.pair_recorder(self.db, client, serial, actor=ACTOR, clock=CLOCK)
            recorder.unplug()
        if assign:
            with self.db.transaction() as session:
                number = f"0{len(self.recorders):05d}"
                ledger.register_officer(
                    session,
                    officer_number=number,
                    name=f"Officer {number}",
                    unit_number="U1",
                    unit_name="City Management",
                    actor=ACTOR,
                    at=now,
                )
                ledger.assign(session, serial, number, actor=ACTOR, at=now)
        return recorder

    def plug(self, recorder: SimRecorder, bay: int) -> None:
        self.hotplug.attach(f"1-1.{bay}", recorder.plug())

    def unplug(self, recorder: SimRecorder, bay: int) -> None:
        recorder.unplug()
        self.hotplug.detach(f"1-1.{bay}")

    def next_result(self):
        return self.results.get(timeout=WAIT_S)

    def bay_row(self, number: int) -> Bay:
        with self.db.transaction() as session:
            row = session.get(Bay, number)
            session.expunge(row)
            return row

    def wait_for_state(self, number: int, state: BayState) -> Bay:
        import time

        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            row = self.bay_row(number)
            if row.state == state:
                return row
            time.sleep(0.05)
        raise AssertionError(f"bay {number} stayed {self.bay_row(number).state}, not {state}")


@pytest.fixture
def dock(tmp_path):
    made = Dock(tmp_path)
    yield made
    made.stop()


def dock_one(dock: Dock, **recorder_args):
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


def test_full_card_is_not_ready(dock):
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
    assert abs(recorder.board.now_ms() / 1000 - CLOCK.now_utc().timestamp()) < 2
    with dock.db.transaction() as session:
        types = [e.type for e in journal.latest(session, limit=50, device="ZFY10001")]
    assert "recorder.clock_set" in types


def test_unsynchronised_dock_does_not_set_the_clock_and_says_why(tmp_path):
    dock = Dock(tmp_path, is_clock_synced=False)
    try:
        recorder, result = dock_one(dock, clock_skew_s=7200)
        assert result.state is BayState.ATTENTION
        assert reason_codes(result) == ["dock_clock"]
        assert abs(recorder.board.now_ms() / 1000 - CLOCK.now_utc().timestamp()) > 7000
    finally:
        dock.stop()


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
        ledger.set_maintenance(session, "ZFY10001", "under_repair", actor=ACTOR, at=CLOCK.now_utc())
    dock.start()
    dock.plug(recorder, 1)
    _, result = dock.next_result()
    assert result.state is BayState.ATTENTION
    assert reason_codes(result) == ["maintenance"]


def test_recorder_speaking_another_protocol_version_needs_attention(dock):
    _, result = dock_one(dock, pair=False, faults=Faults(protocol_version=2))
    assert result.state is BayState.ATTENTION
    assert "v2" in dock.bay_row(1).reason and "reflash" in dock.bay_row(1).reason


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

"""A whole dock on a temporary data dir, with simulated recorders on real ptys.

`dock` builds a DockService (bays, checks, offload) exactly as `dock serve` does, but driven
by simulated hot-plug: `plug(recorder, bay)` is a recorder landing in a bay, `unplug` its
removal. The recorders run the real firmware; their cards are directories or FAT32/exFAT
images that the dock reads through the same volume interface as on the Pi.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import pytest

from dock import ledger
from dock.bays.states import BayState
from dock.clock import SystemClock
from dock.config import parse_settings
from dock.db.database import open_database
from dock.db.models import Bay
from dock.events import EventBus
from dock.offload.ingest import Offloader
from dock.offload.store import EvidenceStore
from dock.service import DockService
from firmware_bridge.client import RecorderClient
from firmware_bridge.sim import SimRecorder, generate_clips, make_storage
from hw.clock_sync import FakeClockSync
from hw.hotplug import SimulatedHotplug
from hw.volumes import SimulatedVolumes

CLOCK = SystemClock()
ACTOR = "test"
WAIT_S = 30


class Dock:
    def __init__(
        self,
        tmp_path: Path,
        *,
        bays: int = 4,
        is_clock_synced: bool = True,
        offload: dict | None = None,
        central: dict | None = None,
    ) -> None:
        ports = {f"1-1.{n}": n for n in range(1, bays + 1)}
        self.settings = parse_settings(
            {
                "dock": {"data_dir": str(tmp_path / "data"), "agency": "City Management"},
                "bays": {"count": bays, "usb_port_paths": ports},
                # A shift needs 450 kB here, so small simulated cards can pass the storage check.
                "check": {"allowed_firmware": ["1.0.0"], "shift_hours": 1, "bitrate_mbps": 0.001},
                "link": {"timeout_s": 0.5, "retries": 2},
                "offload": {"reserve_bytes": 0, **(offload or {})},
                **({"central": central} if central else {}),
            },
            base_dir=tmp_path,
            source=None,
        )
        self.db = open_database(self.settings.dock.data_dir, EventBus())
        self.store = EvidenceStore(
            self.settings.dock.data_dir / "store", reserve_bytes=self.settings.offload.reserve_bytes
        )
        self.volumes = SimulatedVolumes()
        self.offloader = Offloader(self.db, self.store, self.settings, CLOCK, self.volumes)
        self.hotplug = SimulatedHotplug()
        self.clock_sync = FakeClockSync(is_clock_synced)
        self.results: queue.Queue = queue.Queue()
        self.tmp_path = tmp_path
        self.recorders: list[SimRecorder] = []
        self.service: DockService | None = None

    def start(self) -> None:
        self.service = DockService(
            self.settings,
            self.db,
            self.hotplug,
            clock=CLOCK,
            clock_sync=self.clock_sync,
            offloader=self.offloader,
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

    def recorder(
        self,
        serial: str,
        *,
        register=True,
        pair=True,
        assign=True,
        clip_count=3,
        clip_bytes=4096,
        card="dir",
        first_start_utc_s: int | None = None,
        **sim_args,
    ) -> SimRecorder:
        when = {} if first_start_utc_s is None else {"first_start_utc_s": first_start_utc_s}
        clips, events = generate_clips(
            clip_count, size_bytes=clip_bytes, seed=len(self.recorders), **when
        )
        location = self.tmp_path / "cards" / (serial + ("" if card == "dir" else ".img"))
        location.parent.mkdir(exist_ok=True)
        storage = make_storage(card, location, serial, clips)
        sim_args.setdefault("firmware_version", "1.0.0")
        port_of: dict[str, str] = {}
        recorder = SimRecorder(
            storage,
            serial=serial,
            clips=clips,
            events=events,
            on_mass_storage=lambda is_on: self.volumes.expose(port_of.get("port", ""), is_on),
            **sim_args,
        )
        recorder.port_of = port_of  # where the dock sees it, once plugged
        recorder.card = (card, location)
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
        port = f"1-1.{bay}"
        recorder.port_of["port"] = port
        kind, location = recorder.card
        self.volumes.insert(port, kind, location, recorder.board.serial())
        self.hotplug.attach(port, recorder.plug())

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
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            row = self.bay_row(number)
            if row.state == state:
                return row
            time.sleep(0.05)
        raise AssertionError(f"bay {number} stayed {self.bay_row(number).state}, not {state}")


@pytest.fixture
def make_dock(tmp_path):
    made: list[Dock] = []

    def make(**kwargs) -> Dock:
        dock = Dock(tmp_path / f"dock{len(made)}", **kwargs)
        made.append(dock)
        return dock

    yield make
    for dock in made:
        dock.stop()


@pytest.fixture
def dock(make_dock):
    return make_dock()


@pytest.fixture
def people(tmp_path):
    """A migrated dock database with one member of staff per role (tests/integration/people_setup)."""
    from tests.integration.people_setup import People

    made = People(tmp_path)
    yield made
    made.close()

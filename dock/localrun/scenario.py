"""What happens at the simulated dock of `make run`: officers come and go over time.

Twelve officers, each with a recorder of their own, return from shifts and dock in the eight
bays; while the demo runs, the recorder docked longest is taken out (issued for the next
shift) and another officer's put in its place. Each docking is one `Visit`, and a visit's
kind says what is wrong with the recorder, so a person watching sees every path of the dock:

- normal: a fit recorder with a shift's clips; checked, offloaded, READY;
- low_battery: NOT READY until charged;
- clock_skew: its clock two hours off, set from the dock's;
- late: clips recorded 30 hours ago, past the 24-hour hand-over limit: the clips are flagged
  late;
- damaged_card: a FAT32 card whose first clip's cluster chain is cut short
  (firmware_bridge.sim.card_damage): that clip is quarantined, the rest taken;
- interruption: a recording interrupted without a note on the recorder; the dock asks, and
  the scenario presses the bay's (mock) button, the fake microphone speaks the reason, and
  the second press keeps the note as evidence;
- reflash: once the recorder is checked, the demo's technician signs in and the bay's thread
  sends it the reference firmware (compiled by mpy-cross, signed with the development key):
  REFLASHING with progress, the test boot, then identify and check again.

The recorders are the simulator running the real firmware over ptys (dock.simulation); the
scenario only plugs and unplugs them and presses buttons, as people would. It reads what
happened from the board (a journal reader), never from the service's insides.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dock.bays.states import BayState
from dock.clock import Clock, SystemClock
from dock.db.database import Database
from dock.localrun.board import Board
from dock.simulation import (
    CARD_CAPACITY_BYTES,
    LOW_BATTERY_PCT,
    SimulatedDock,
    enrol,
    pair,
    paired_key,
    port_path,
)
from firmware_bridge.sim import SimRecorder, generate_clips
from firmware_bridge.sim.card_damage import shorten_fat32_chain
from firmware_bridge.sim.cards import make_storage
from hw.gpio import GpioButtons

log = logging.getLogger(__name__)

OFFICERS = (
    ("900101", "王伟"),
    ("900102", "李娜"),
    ("900103", "张敏"),
    ("900104", "刘洋"),
    ("900105", "陈静"),
    ("900106", "杨磊"),
    ("900107", "赵军"),
    ("900108", "黄丽"),
    ("900109", "周强"),
    ("900110", "吴芳"),
    ("900111", "徐杰"),
    ("900112", "孙燕"),
)
CLIPS_PER_SHIFT = 6
CLIP_SIZE_BYTES = 4 * 1024 * 1024
SHIFT_ENDED_S = 3 * 3600  # a normal shift: its clips end within the last hours
LATE_SHIFT_STARTED_S = 30 * 3600  # past the 24 h hand-over limit
CLOCK_SKEW_S = 2 * 3600
FULL_BATTERY_PCT = 95
FAT32_CLUSTER_BYTES = 32 * 1024
SETTLED = (BayState.READY, BayState.ATTENTION, BayState.FAULT)
SETTLE_WAIT_S = 90.0
NOTE_WAIT_S = 60.0
NOTE_SPEAK_S = 4.0  # between the two presses: the fake microphone says its sentence
PRESS_S = 0.2  # a short press (a long one, held 2 s, skips the note)

# The opening: (seconds after start, bay, officer index, kind); bay 8 stays empty a while.
OPENING = (
    (1.0, 1, 0, "normal"),
    (2.0, 2, 1, "low_battery"),
    (3.0, 3, 2, "clock_skew"),
    (4.0, 4, 3, "damaged_card"),
    (5.0, 5, 4, "late"),
    (6.0, 6, 5, "interruption"),
    (7.0, 7, 6, "reflash"),
    (20.0, 8, 7, "normal"),
)
REFLASH_VERSION = "1.1.0"
ROTATION_STARTS_S = 40.0
ROTATE_EVERY_S = 12.0
OUT_TO_IN_S = 2.0  # an empty bay between one officer's recorder and the next
ROTATION_KINDS = (
    "normal",
    "late",
    "normal",
    "interruption",
    "low_battery",
    "normal",
    "clock_skew",
    "damaged_card",
)


# The demo's staff, one account a role, for the custodians' pages; a demo password, shown on
# screen, because this dock holds only simulated footage and listens on loopback only.
DEMO_PASSWORD = "demo-password"
DEMO_STAFF = {
    "admin": ["administrator"],
    "custodian": ["custodian"],
    "director": ["office_director"],
    "legal": ["legal_reviewer"],
    "leader": ["leader"],
    "technician": ["technician"],
}


def add_demo_staff(data_dir: Path) -> None:
    from dock.db.database import open_database
    from dock.people.accounts import add_team

    db = open_database(data_dir)
    try:
        with db.transaction() as session:
            add_team(session, DEMO_STAFF, password=DEMO_PASSWORD, clock=SystemClock())
    finally:
        db.close()


@dataclass(frozen=True)
class Visit:
    bay: int
    officer: int  # index into OFFICERS
    kind: str


def serial_of(officer: int) -> str:
    return f"SIM{officer + 1:05d}"


class Fleet:
    """The officers' recorders: enrolled and paired once, a fresh shift's card each visit."""

    def __init__(self, dock: SimulatedDock, clock: Clock) -> None:
        self.dock = dock
        self.clock = clock
        self.cards_dir = Path(tempfile.mkdtemp(prefix="cards-", dir=self._sim_dir()))
        self.visits = 0
        self.docked: dict[int, tuple[Visit, SimRecorder]] = {}  # bay -> what is in it
        self.docked_at: dict[int, float] = {}

    def _sim_dir(self) -> Path:
        sim_dir = self.dock.settings.dock.data_dir / "sim"
        sim_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in sim_dir.glob("cards-*"):
            shutil.rmtree(old, ignore_errors=True)  # left by a run that was killed
        return sim_dir

    def enrol_all(self) -> None:
        db = self.dock.db
        for officer, (number, name) in enumerate(OFFICERS):
            serial = serial_of(officer)
            enrol(db, self.clock, serial, number, name)
            if paired_key(db, serial) is None:
                work = self.cards_dir / f"pairing-{serial}"
                clips, events = generate_clips(0, interruption_every=0)
                storage = make_storage("dir", work, serial, clips)
                pair(db, self.clock, SimRecorder(storage, serial=serial), serial)
                shutil.rmtree(work, ignore_errors=True)

    def officers_out(self) -> list[int]:
        """Officers whose recorder is not in a bay, in their order."""
        inside = {visit.officer for visit, _ in self.docked.values()}
        return [n for n in range(len(OFFICERS)) if n not in inside]

    def dock_in(self, visit: Visit) -> None:
        recorder = self._recorder(visit)
        storage = recorder.storage
        self.dock.volumes.insert(
            port_path(visit.bay), storage.kind, storage.location, storage.label
        )
        self.docked[visit.bay] = (visit, recorder)
        self.docked_at[visit.bay] = time.monotonic()
        self.dock.hotplug.attach(port_path(visit.bay), recorder.plug())

    def take_out(self, bay: int) -> None:
        visit, recorder = self.docked.pop(bay)
        self.docked_at.pop(bay, None)
        self.dock.hotplug.detach(port_path(bay))
        recorder.unplug()
        location = recorder.storage.location
        if location.is_dir():
            shutil.rmtree(location, ignore_errors=True)
        else:
            location.unlink(missing_ok=True)

    def take_all_out(self) -> None:
        for bay in list(self.docked):
            self.take_out(bay)
        shutil.rmtree(self.cards_dir, ignore_errors=True)

    def _recorder(self, visit: Visit) -> SimRecorder:
        self.visits += 1
        serial = serial_of(visit.officer)
        now_s = int(self.clock.now_utc().timestamp())
        started_s = LATE_SHIFT_STARTED_S if visit.kind == "late" else SHIFT_ENDED_S + 5 * 3600
        interrupted = visit.kind == "interruption"
        clips, events = generate_clips(
            CLIPS_PER_SHIFT if visit.kind != "late" else 3,
            size_bytes=CLIP_SIZE_BYTES,
            seed=self.visits,
            first_start_utc_s=now_s - started_s,
            # Every second clip ends interrupted; the first of them is the fourth of a run
            # of reasons, which has no voice note on the recorder, so the dock asks for one.
            interruption_every=2 if interrupted else 0,
            interruptions_before=3,
        )
        is_damaged = visit.kind == "damaged_card"
        location = self.cards_dir / f"{serial}-{self.visits}{'.img' if is_damaged else ''}"
        storage = make_storage(
            "fat32" if is_damaged else "dir",
            location,
            serial,
            clips,
            capacity_bytes=CARD_CAPACITY_BYTES,
            cluster_bytes=FAT32_CLUSTER_BYTES if is_damaged else None,
        )
        if is_damaged:
            shorten_fat32_chain(location, clips[0].path, keep=1)
        volumes, port = self.dock.volumes, port_path(visit.bay)
        return SimRecorder(
            storage,
            serial=serial,
            clips=clips,
            events=events,
            key=paired_key(self.dock.db, serial),
            battery_pct=LOW_BATTERY_PCT if visit.kind == "low_battery" else FULL_BATTERY_PCT,
            clock_skew_s=CLOCK_SKEW_S if visit.kind == "clock_skew" else 0.0,
            on_mass_storage=lambda is_on: volumes.expose(port, is_on),
        )


class Scenario:
    """The script, run by serve() on its own thread (`scenario=`) until the dock stops."""

    def __init__(self, make_board: Callable[[Database], Board], clock: Clock | None = None) -> None:
        self.make_board = make_board
        self.clock = clock or SystemClock()
        self.board: Board | None = None  # once the dock is up

    def __call__(self, dock: SimulatedDock) -> None:
        self.board = board = self.make_board(dock.db)
        board.start()
        fleet = Fleet(dock, self.clock)
        try:
            fleet.enrol_all()
            started = time.monotonic()
            for at_s, bay, officer, kind in OPENING:
                if dock.stop.wait(max(0.0, started + at_s - time.monotonic())):
                    return
                self._visit(dock, fleet, Visit(bay, officer, kind))
            if dock.stop.wait(max(0.0, started + ROTATION_STARTS_S - time.monotonic())):
                return
            for kind in _forever(ROTATION_KINDS):
                if not self._rotate(dock, fleet, kind) or dock.stop.wait(ROTATE_EVERY_S):
                    return
        except Exception:
            if not dock.stop.is_set():
                log.exception("the demo scenario failed (a bug); the dock goes on without it")
        finally:
            fleet.take_all_out()
            board.stop()

    @property
    def _board(self) -> Board:
        assert self.board is not None, "the scenario has not started"
        return self.board

    def _visit(self, dock: SimulatedDock, fleet: Fleet, visit: Visit) -> None:
        fleet.dock_in(visit)
        if visit.kind == "interruption":
            self._when_settled_then(dock, visit.bay, self._speak_note)
        if visit.kind == "reflash":
            self._when_settled_then(dock, visit.bay, self._reflash)

    def _reflash(self, dock: SimulatedDock, bay: int) -> None:
        """The technician updates the recorder through the running dock, as `dock reflash`."""
        from dock.people.accounts import authenticate
        from firmware_bridge.image import (
            DEV_KEY_PATH,
            build_image,
            compile_firmware,
            load_private_key,
            pack_files,
        )

        image = build_image(
            pack_files(compile_firmware()),
            model="ZFY-SIM",
            version=REFLASH_VERSION,
            min_version="1.0.0",
            key=load_private_key(DEV_KEY_PATH),
        )
        technician = authenticate(
            dock.db, "technician", DEMO_PASSWORD, limits=dock.settings.people,
            clock=self.clock,
        )  # fmt: skip
        outcome = dock.service.bays[bay].reflash(image, technician)
        log.info("demo reflash: %s", outcome.summary())

    def _rotate(self, dock: SimulatedDock, fleet: Fleet, kind: str) -> bool:
        """The recorder docked longest goes out (once its bay has settled), another comes in."""
        if not fleet.docked:
            return True
        bay = min(fleet.docked_at, key=fleet.docked_at.__getitem__)
        if not self._wait_settled(dock, bay):
            return not dock.stop.is_set()
        fleet.take_out(bay)
        if dock.stop.wait(OUT_TO_IN_S):
            return False
        officer = fleet.officers_out()[0]
        self._visit(dock, fleet, Visit(bay, officer, kind))
        return True

    def _wait_settled(self, dock: SimulatedDock, bay: int) -> bool:
        deadline = time.monotonic() + SETTLE_WAIT_S
        while time.monotonic() < deadline:
            if self._board.bay(bay).light.state in SETTLED:
                return True
            if dock.stop.wait(0.5):
                return False
        return False

    def _when_settled_then(self, dock: SimulatedDock, bay: int, then: object) -> None:
        """Run `then(dock, bay)` on a thread of its own, so the rest of the script goes on."""
        import threading

        def wait_then() -> None:
            if self._wait_settled(dock, bay):
                then(dock, bay)  # type: ignore[operator]

        threading.Thread(target=wait_then, name=f"scenario-bay-{bay}", daemon=True).start()

    def _speak_note(self, dock: SimulatedDock, bay: int) -> None:
        """The officer presses the bay's button, says why recording stopped, presses again."""
        deadline = time.monotonic() + NOTE_WAIT_S
        while not self._board.bay(bay).light.is_note_needed:
            if time.monotonic() > deadline or dock.stop.wait(0.5):
                return
        buttons = dock.panel.buttons if dock.panel is not None else None
        if not isinstance(buttons, GpioButtons) or dock.stop.wait(2.0):
            return
        for pause_s in (NOTE_SPEAK_S, 0.0):
            pin = buttons.pin(bay)
            pin.drive_low()
            time.sleep(PRESS_S)
            pin.drive_high()
            if dock.stop.wait(pause_s):
                return


def _forever(kinds: tuple[str, ...]) -> Iterator[str]:
    while True:
        yield from kinds

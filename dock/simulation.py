"""`dock serve --simulate N`: the real dock service with N simulated recorders in its bays.

For development, demonstrations (`make run`) and the subprocess tests: everything the
dock does is real (database, journal, bay threads, the link over ptys, the check); only
the USB hot-plug and the recorders are simulated. The recorders run the real firmware.
Bay 2 holds a recorder low on battery and bay 3 one whose clock is 2 hours off, so a person
watching sees the check refuse one and correct the other.

On the first start each simulated recorder is registered, assigned to its own officer and
paired, through the same ledger functions a custodian's commands use; on later starts the
ledger already knows them and they prove the key kept there. Their cards are directories
in a temporary folder under `<data_dir>/sim`, removed at stop; folders a killed run left
there are removed at the next start (the control socket already made sure no other dock
runs on this data).

Each recorder comes back from a shift that ended in the hours before now, so the clips are
offloaded in time; bay 1's recorder also still holds two clips of the shift the day before
yesterday, late on purpose (beyond the hand-over limit), so `dock clips --late` shows some.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from dock import ledger
from dock.clock import Clock
from dock.config import Settings
from dock.db.database import Database
from dock.pairing import pair_over_link
from firmware_bridge.client import RecorderClient
from firmware_bridge.sim import DirectoryStorage, GeneratedClip, SimRecorder, generate_clips
from hw.hotplug import SimulatedHotplug
from hw.volumes import SimulatedVolumes

if TYPE_CHECKING:
    from dock.panel import Panel
    from dock.service import DockService

ACTOR = "simulator"
MAX_RECORDERS = 16
CARD_CAPACITY_BYTES = 64 * 1000**3  # room for a 10 h shift at 8 Mbit/s (36 GB)
CLIPS_PER_CARD = 4
INTERRUPTION_EVERY = 2  # with 4 bays, every reason once at least
POWER_LOSS_EVERY = 3
CLIP_SIZE_BYTES = 4 * 1024 * 1024  # realistic enough to watch; a real clip is 100s of MB
LOW_BATTERY_PCT = 12
CLOCK_SKEW_S = 2 * 3600
FULL_BATTERY_PCT = 95
# The recorders with something wrong; the others are fit.
LOW_BATTERY_BAY = 2
CLOCK_SKEW_BAY = 3
LATE_BAY = 1
SHIFT_STARTED_S = 8 * 3600  # before now: 4 clips end within some 5 hours, so before now
LATE_SHIFT_STARTED_S = 30 * 3600  # before now: beyond a 24 h hand-over limit
LATE_CLIPS = 2


def port_path(bay: int) -> str:
    """The simulated USB port path of a bay (not a kernel name, so never confused with one)."""
    return f"sim.{bay}"


def serial_for(bay: int) -> str:
    return f"SIM{bay:05d}"


def simulated_settings(settings: Settings, count: int) -> Settings:
    """The settings with at least `count` bays, each wired to its simulated port; the
    simulated recorders run the development firmware, so this dock trusts its key too."""
    from dock.reflash.staging import with_development_key

    bays = replace(
        settings.bays,
        count=max(settings.bays.count, count),
        usb_port_paths=MappingProxyType({port_path(n): n for n in range(1, count + 1)}),
    )
    firmware = replace(
        settings.firmware, public_keys=with_development_key(settings.firmware.public_keys)
    )
    return replace(settings, bays=bays, firmware=firmware)


def shift_clips(bay: int, now_utc_s: int) -> tuple[list[GeneratedClip], list[dict]]:
    """The clips and event log of bay's recorder: a shift that started SHIFT_STARTED_S ago,
    and for LATE_BAY first LATE_CLIPS clips of a shift LATE_SHIFT_STARTED_S ago."""
    # Two interruptions a shift, the bays going on through the seven reasons (the fourth
    # and eighth left without a voice note), and the third clip ending with the power lost.
    clips, events = generate_clips(
        CLIPS_PER_CARD,
        size_bytes=CLIP_SIZE_BYTES,
        seed=bay,
        first_start_utc_s=now_utc_s - SHIFT_STARTED_S,
        interruption_every=INTERRUPTION_EVERY,
        power_loss_every=POWER_LOSS_EVERY,
        interruptions_before=(bay - 1) * (CLIPS_PER_CARD // INTERRUPTION_EVERY),
    )
    if bay != LATE_BAY:
        return clips, events
    late, late_events = generate_clips(
        LATE_CLIPS,
        size_bytes=CLIP_SIZE_BYTES,
        seed=1000 + bay,
        first_start_utc_s=now_utc_s - LATE_SHIFT_STARTED_S,
        interruption_every=0,
    )
    log = [{**event, "index": i} for i, event in enumerate(late_events + events)]
    return late + clips, log


@dataclass(frozen=True)
class SimulatedDock:
    """What a scenario (dock.localrun) gets from `serve(..., scenario=)` once the dock is up:
    the simulated hot-plug and volumes to dock its recorders with, the panel to press the
    bays' mock buttons, and `stop`, set when the dock is stopping."""

    settings: Settings
    db: Database
    service: DockService
    hotplug: SimulatedHotplug
    volumes: SimulatedVolumes
    panel: Panel | None
    stop: threading.Event


class SimulatedBays:
    """N simulated recorders, known to the ledger, plugged into bays 1..N."""

    def __init__(
        self, count: int, data_dir: Path, db: Database, clock: Clock, volumes: SimulatedVolumes
    ) -> None:
        if not 1 <= count <= MAX_RECORDERS:
            raise ValueError(f"--simulate takes 1 to {MAX_RECORDERS} recorders, not {count}")
        self.db = db
        self.clock = clock
        self.volumes = volumes
        sim_dir = Path(data_dir) / "sim"
        sim_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in sim_dir.glob("cards-*"):
            shutil.rmtree(old, ignore_errors=True)  # left by a run that was killed
        self.cards_dir = Path(tempfile.mkdtemp(prefix="cards-", dir=sim_dir))
        self.recorders: dict[int, SimRecorder] = {}
        try:
            for bay in range(1, count + 1):
                self._enrol(bay)
                self.recorders[bay] = self._recorder(bay)
                self._pair(bay)
        except BaseException:
            self.stop()
            raise

    def plug_all(self, hotplug: SimulatedHotplug) -> None:
        for bay in self.recorders:
            self.plug(bay, hotplug)

    def plug(self, bay: int, hotplug: SimulatedHotplug) -> None:
        """Put bay's recorder in: its port appears now, its card once the dock unlocks it."""
        recorder = self.recorders[bay]
        storage = recorder.storage
        self.volumes.insert(port_path(bay), "dir", storage.location, storage.label)
        hotplug.attach(port_path(bay), recorder.plug())

    def stop(self) -> None:
        for recorder in self.recorders.values():
            recorder.stop()
        shutil.rmtree(self.cards_dir, ignore_errors=True)

    def _enrol(self, bay: int) -> None:
        enrol(self.db, self.clock, serial_for(bay), f"9{bay:05d}", f"Sim Officer {bay}")

    def _recorder(self, bay: int) -> SimRecorder:
        serial = serial_for(bay)
        clips, events = shift_clips(bay, int(self.clock.now_utc().timestamp()))
        storage = DirectoryStorage.create(
            self.cards_dir / serial, serial, clips, capacity_bytes=CARD_CAPACITY_BYTES
        )
        key = paired_key(self.db, serial)
        return SimRecorder(
            storage,
            serial=serial,
            clips=clips,
            events=events,
            key=key,  # the key a recorder paired on an earlier run kept in its flash
            battery_pct=LOW_BATTERY_PCT if bay == LOW_BATTERY_BAY else FULL_BATTERY_PCT,
            clock_skew_s=CLOCK_SKEW_S if bay == CLOCK_SKEW_BAY else 0.0,
            # The card shows up on the bay's USB port only while the dock has it unlocked.
            on_mass_storage=lambda is_on: self.volumes.expose(port_path(bay), is_on),
        )

    def _pair(self, bay: int) -> None:
        pair(self.db, self.clock, self.recorders[bay], serial_for(bay))


def enrol(db: Database, clock: Clock, serial: str, officer_number: str, name: str) -> None:
    """Register the recorder and its officer and assign it, unless the ledger has them."""
    now = clock.now_utc()
    with db.transaction() as session:
        if ledger.find_device(session, serial) is None:
            ledger.register_device(
                session,
                serial=serial,
                model="ZFY-SIM",
                firmware_version="1.0.0",
                actor=ACTOR,
                at=now,
            )
        if ledger.assigned_officer(session, serial) is None:
            try:
                ledger.get_officer(session, officer_number)
            except ledger.UnknownOfficer:
                ledger.register_officer(
                    session,
                    officer_number=officer_number,
                    name=name,
                    unit_number="SIM",
                    unit_name="Simulated Unit",
                    actor=ACTOR,
                    at=now,
                )
            ledger.assign(session, serial, officer_number, actor=ACTOR, at=now)


def paired_key(db: Database, serial: str) -> bytes | None:
    """The key a recorder paired on an earlier run kept in its flash (None: not paired)."""
    with db.transaction() as session:
        return ledger.paired_key(session, serial)


def pair(db: Database, clock: Clock, recorder: SimRecorder, serial: str) -> None:
    """Pair a recorder that is not plugged in yet, over a link of its own, then unplug it."""
    try:
        with RecorderClient.open(recorder.plug()) as client:
            pair_over_link(db, client, serial, actor=ACTOR, clock=clock)
    finally:
        recorder.unplug()

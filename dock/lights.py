"""The bays' lights follow the journal.

A projection of each bay's state (state, offload progress, notes asked for, a note being
recorded) is built from journal rows and turned into a light pattern. The follower reads the
journal in its own thread from its own persisted cursor, so the lights are never driven from
inside a bay's transaction, a stuck GPIO delays no bay, and a light says only what was
committed. The cursor file also holds the projection: after a restart the lights show the
same patterns at once and go on from the next row; without the file they are rebuilt from
the journal's first row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from dock.bays.states import CHECKED, BayState
from dock.db.database import Database
from dock.errors import DockError
from dock.events import (
    BayStateChanged,
    Event,
    InterruptionExplained,
    OffloadAwaitingConfirmation,
    OffloadNotConfirmed,
    OffloadProgress,
    OffloadStarted,
    ReflashProgress,
    ReflashStarted,
    TechnicianModeAsked,
    TechnicianModeEntered,
    TechnicianModeLeft,
    VoiceNoteRefused,
    VoiceNoteSkipped,
    VoiceNotesNeeded,
    VoiceNoteStarted,
)
from dock.journal_reader import CursorFile, read_after
from hw import gpio
from hw.gpio import Lights, Pattern

log = logging.getLogger(__name__)

CURSOR_FILE_NAME = "lights.cursor.json"
DEFAULT_BATCH = 200
DEFAULT_POLL_S = 1.0
# The dock light while the registry's broker is unreachable or refuses the dock: green (the
# bays work) with two amber flashes, unlike health_degraded's slow amber blink.
BROKER_DOWN = gpio.Pattern(
    "broker_down",
    (
        (gpio.Color.GREEN, 1.0),
        (gpio.Color.AMBER, 0.15),
        (gpio.Color.GREEN, 0.15),
        (gpio.Color.AMBER, 0.15),
    ),
)


# Two-person offload (003 art.21): two amber flashes, a rest: "two people", storage locked.
AWAITING_TWO_STAFF = gpio.flashes("awaiting_two_staff", gpio.Color.AMBER, 2)
# Technician mode: red and amber, quick while it waits for a technician's credential, slow
# once a technician has signed in at the dock.
TECHNICIAN_AWAITED = gpio.blink("technician_awaited", gpio.Color.RED, 0.2, 0.2, gpio.Color.AMBER)
TECHNICIAN_MODE = gpio.blink("technician_mode", gpio.Color.RED, 1.0, 1.0, gpio.Color.AMBER)


@dataclass(frozen=True)
class BayLight:
    state: BayState = BayState.EMPTY
    is_note_needed: bool = False
    is_recording_note: bool = False
    progress: float | None = None  # offloaded or reflashed fraction, 0 to 1, while either runs
    is_awaiting_staff: bool = False  # the offload waits for two staff to confirm
    technician: str = ""  # "awaited" (the button was held) or "signed_in"; "" outside the mode
    technician_name: str = ""  # who signed in, while "signed_in"


def pattern_for(bay: BayLight) -> Pattern:
    """The one place that decides what a bay's light says."""
    if bay.state is BayState.EMPTY:
        return gpio.OFF
    if bay.is_recording_note:
        return gpio.NOTE_RECORDING
    if bay.technician and bay.state in CHECKED:
        return TECHNICIAN_MODE if bay.technician == "signed_in" else TECHNICIAN_AWAITED
    if bay.state is BayState.OFFLOADING and bay.is_awaiting_staff:
        return AWAITING_TWO_STAFF
    if bay.state is BayState.OFFLOADING:
        done = bay.progress or 0.0
        return gpio.offloading(min(4, int(done * 4) + 1))
    if bay.state in (BayState.IDENTIFYING, BayState.CHECKING):
        return gpio.WORKING
    if bay.state is BayState.REFLASHING:
        if bay.progress is None:  # the recorder is still checking the image's manifest
            return gpio.REFLASHING
        return gpio.reflashing(min(4, int(bay.progress * 4) + 1))
    if bay.state is BayState.FAULT:
        return gpio.FAULT
    if bay.is_note_needed:  # READY or ATTENTION, with interruptions to explain first
        return gpio.NOTE_NEEDED
    return gpio.READY if bay.state is BayState.READY else gpio.ATTENTION


def apply(bay: BayLight, happened: Event) -> BayLight:
    """The bay's light state after one journaled event (events of other kinds change nothing)."""
    if isinstance(happened, BayStateChanged):
        target = BayState(happened.to_state)
        if target is BayState.EMPTY:
            return BayLight()
        progress = bay.progress if target is BayState.OFFLOADING else None
        return replace(bay, state=target, progress=progress, is_awaiting_staff=False)
    if isinstance(happened, OffloadAwaitingConfirmation):
        return replace(bay, is_awaiting_staff=True)
    if isinstance(happened, OffloadNotConfirmed):
        return replace(bay, is_awaiting_staff=False)
    if isinstance(happened, TechnicianModeAsked):
        return replace(bay, technician="awaited", technician_name="")
    if isinstance(happened, TechnicianModeEntered):
        return replace(bay, technician="signed_in", technician_name=happened.username)
    if isinstance(happened, TechnicianModeLeft):
        return replace(bay, technician="", technician_name="")
    if isinstance(happened, OffloadStarted):
        return replace(bay, progress=0.0, is_awaiting_staff=False)
    if isinstance(happened, ReflashStarted):  # the technician's work has begun: mode over
        return replace(bay, progress=0.0, technician="", technician_name="")
    if isinstance(happened, ReflashProgress):
        if happened.total_bytes > 0:
            return replace(bay, progress=happened.done_bytes / happened.total_bytes)
        return bay
    if isinstance(happened, OffloadProgress):
        if happened.total_bytes > 0:
            return replace(bay, progress=happened.done_bytes / happened.total_bytes)
        if happened.total_clips > 0:
            return replace(bay, progress=happened.done_clips / happened.total_clips)
        return bay
    if isinstance(happened, VoiceNotesNeeded):
        return replace(bay, is_note_needed=bool(happened.keys), is_recording_note=False)
    if isinstance(happened, VoiceNoteStarted):
        return replace(bay, is_recording_note=True)
    if isinstance(happened, VoiceNoteRefused | VoiceNoteSkipped | InterruptionExplained):
        return replace(bay, is_recording_note=False)
    return bay


def read_into(
    db: Database, cursor: int, bays: dict[int, BayLight], batch: int = DEFAULT_BATCH
) -> tuple[int, int]:
    """Apply up to `batch` rows after `cursor` to `bays`: (the new cursor, rows read)."""
    typed = read_after(db, cursor, batch)
    for item in typed:
        bay = item.event.bay if item.event is not None else None
        if item.event is not None and bay in bays:
            bays[bay] = apply(bays[bay], item.event)
        cursor = item.entry.id
    return cursor, len(typed)


def _to_json(bays: dict[int, BayLight]) -> dict[str, Any]:
    return {str(n): {**asdict(b), "state": b.state.value} for n, b in bays.items()}


def _from_json(state: dict[str, Any], numbers: Iterable[int]) -> dict[int, BayLight]:
    bays = {n: BayLight() for n in numbers}
    for key, value in state.get("bays", {}).items():
        if int(key) in bays:
            bays[int(key)] = BayLight(
                state=BayState(value["state"]),
                is_note_needed=bool(value["is_note_needed"]),
                is_recording_note=bool(value["is_recording_note"]),
                progress=value["progress"],
                # Absent from a file an older dock saved.
                is_awaiting_staff=bool(value.get("is_awaiting_staff", False)),
                technician=str(value.get("technician", "")),
                technician_name=str(value.get("technician_name", "")),
            )
    return bays


def saved_lights(data_dir: Path, numbers: Iterable[int]) -> dict[int, BayLight] | None:
    """What the service's lights show, from its cursor file; None when it keeps none."""
    saved = saved_projection(data_dir, numbers)
    return None if saved is None else saved[1]


def saved_projection(
    data_dir: Path, numbers: Iterable[int]
) -> tuple[int, dict[int, BayLight]] | None:
    """(cursor, every bay's light state) from the follower's cursor file; None without one."""
    saved = CursorFile(data_dir / CURSOR_FILE_NAME).load()
    if saved is None:
        return None
    try:
        return saved[0], _from_json(saved[1], numbers)
    except (KeyError, TypeError, ValueError):
        return None


class LightsFollower:
    """Reads the journal after its cursor and keeps every bay's light in step with it."""

    def __init__(
        self,
        db: Database,
        lights: Lights,
        data_dir: Path,
        *,
        bays: Iterable[int],
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self.db = db
        self.lights = lights
        self.cursor_file = CursorFile(data_dir / CURSOR_FILE_NAME)
        self.batch = batch
        self.numbers = tuple(bays)
        self.cursor = 0
        self.bays: dict[int, BayLight] = {n: BayLight() for n in self.numbers}
        self.rows_read = 0  # since this follower started: what a restart did not re-read
        self._shown: dict[int | str, Pattern] = {}
        self._wake = threading.Event()
        self._is_started = False
        self.is_following = True
        self.is_broker_up: bool | None = None  # None: no broker configured

    def set_broker(self, is_up: bool) -> None:
        """The publisher's news (from its network thread): shown by the follower's thread."""
        self.is_broker_up = is_up
        self._wake.set()

    def dock_pattern(self) -> Pattern:
        """The one place that decides what the dock light says."""
        if not self.is_following:
            return gpio.HEALTH_DOWN
        return BROKER_DOWN if self.is_broker_up is False else gpio.HEALTH_OK

    def start_up(self) -> None:
        """Restore from the cursor file (or rebuild), catch up, then light every bay once."""
        saved = self.cursor_file.load()
        if saved is not None:
            self.cursor, state = saved
            try:
                self.bays = _from_json(state, self.numbers)
            except (KeyError, TypeError, ValueError) as err:
                log.warning("lights: saved state unusable (%s); rebuilding from the journal", err)
                self.cursor, self.bays = 0, {n: BayLight() for n in self.numbers}
        while self._read_batch():
            pass
        for number in self.numbers:
            self._show(number)
        self._show_dock()
        self._save()
        self._is_started = True

    def poll(self) -> int:
        """Handle the rows committed since the last call; returns how many were read."""
        total = 0
        while True:
            count = self._read_batch()
            total += count
            if count < self.batch:
                break
        if total:
            for number in self.numbers:
                self._show(number)
            self._save()
        return total

    def wake(self, _happened: Event | None = None) -> None:
        """An EventBus listener: only sets a flag, the reading happens in the follower's thread."""
        self._wake.set()

    def run(self, stop: threading.Event, poll_s: float = DEFAULT_POLL_S) -> None:
        """The follower's thread: start up, then poll on every wake (or every poll_s)."""
        while not stop.is_set():
            try:
                if self._is_started:
                    self.poll()
                else:
                    self.start_up()
                if not self.is_following:
                    log.info("lights: following the journal again")
                self.is_following = True
            except (DockError, OSError, SQLAlchemyError) as err:
                if self.is_following:
                    log.warning("lights: cannot follow the journal (%s); retrying", err)
                self.is_following = False
            self._show_dock()
            self._wake.wait(poll_s)
            self._wake.clear()

    def _read_batch(self) -> int:
        self.cursor, count = read_into(self.db, self.cursor, self.bays, self.batch)
        self.rows_read += count
        return count

    def _show(self, number: int) -> None:
        pattern = pattern_for(self.bays[number])
        if self._shown.get(number) != pattern:
            self.lights.show(number, pattern)
            self._shown[number] = pattern

    def _show_dock(self) -> None:
        pattern = self.dock_pattern()
        if self._shown.get(gpio.DOCK_LIGHT) != pattern:
            self.lights.show(gpio.DOCK_LIGHT, pattern)
            self._shown[gpio.DOCK_LIGHT] = pattern

    def _save(self) -> None:
        self.cursor_file.save(self.cursor, {"bays": _to_json(self.bays)})

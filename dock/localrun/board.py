"""What `make run` draws in the terminal: the eight bays as the journal tells them.

`Board` is one more durable reader of the dock's journal (dock.journal_reader): it reads
typed events after its own cursor and keeps, beside that cursor in a file, each bay's light
(dock.lights.apply, the same projection the bay LEDs follow), the officer whose recorder is
docked there and the last thing that happened to it. Nothing here asks the service: what
the screen shows is what was committed, as an auditor would find it. The registry's own
answer (rows it holds for this dock) comes from its HTTP API, so the screen also shows the
events arriving there.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from dock.bays.states import BayState
from dock.db.database import Database
from dock.errors import DockError
from dock.events import (
    BayStateChanged,
    CheckCompleted,
    ClipQuarantined,
    ClipReplicated,
    ClipStored,
    DeviceAssigned,
    Event,
    InterruptionExplained,
    OfficerRegistered,
    OffloadFinished,
    OffloadProgress,
    OffloadStarted,
    RecorderIdentified,
    ReflashFinished,
    ReflashStarted,
    VoiceNotesNeeded,
    VoiceNoteStarted,
)
from dock.journal_reader import CursorFile, read_after
from dock.lights import BayLight, apply, pattern_for
from hw.gpio import Color

log = logging.getLogger(__name__)

CURSOR_FILE_NAME = "demo-board.cursor.json"
POLL_S = 0.25
REGISTRY_EVERY_S = 2.0
NEWS_LINES = 8
STYLE = {
    Color.OFF: "grey30",
    Color.RED: "bold red",
    Color.GREEN: "bold green",
    Color.AMBER: "bold yellow",
}


@dataclass
class BayView:
    light: BayLight = field(default_factory=BayLight)
    device: str = ""
    reason: str = ""
    clips_done: int = 0
    clips_total: int = 0
    late_clips: int = 0  # of this docking
    news: str = ""  # the last thing that happened in this bay, one line


@dataclass
class Projection:
    """Everything the board derives from the journal; saved with its cursor."""

    bays: dict[int, BayView]
    officer_of_device: dict[str, str] = field(default_factory=dict)
    officer_names: dict[str, str] = field(default_factory=dict)
    news: list[str] = field(default_factory=list)  # the dock's latest notable lines
    late_clips: int = 0
    quarantined_clips: int = 0
    replicated_clips: int = 0
    stored_clips: int = 0

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        for number, bay in self.bays.items():
            document["bays"][number]["light"]["state"] = bay.light.state.value
        document["bays"] = {str(n): b for n, b in document["bays"].items()}
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any], numbers: range) -> Projection:
        bays = {n: BayView() for n in numbers}
        for key, raw in document.get("bays", {}).items():
            if int(key) in bays:
                light = BayLight(**{**raw["light"], "state": BayState(raw["light"]["state"])})
                bays[int(key)] = BayView(**{**raw, "light": light})
        rest = {k: v for k, v in document.items() if k != "bays"}
        return cls(bays=bays, **rest)


def officer_of(projection: Projection, device: str) -> str:
    number = projection.officer_of_device.get(device, "")
    name = projection.officer_names.get(number, "")
    return f"{name} ({number})" if name else number


def apply_event(projection: Projection, happened: Event) -> None:
    """One journaled event into the projection (events of other kinds change nothing)."""
    if isinstance(happened, OfficerRegistered):
        projection.officer_names[happened.officer_number] = happened.name
    elif isinstance(happened, DeviceAssigned) and happened.device:
        projection.officer_of_device[happened.device] = happened.officer_number
    bay = projection.bays.get(happened.bay) if happened.bay is not None else None
    if isinstance(happened, ClipReplicated):
        projection.replicated_clips += 1
    if bay is None:
        return
    bay.light = apply(bay.light, happened)
    device = happened.device or bay.device
    where = f"bay {happened.bay} {device}"
    if isinstance(happened, BayStateChanged):
        if happened.to_state == BayState.EMPTY:
            projection.bays[happened.bay] = BayView(  # type: ignore[index]
                news=f"{bay.device} taken out" if bay.device else ""
            )
            return
        bay.device, bay.reason = device, happened.reason
    elif isinstance(happened, RecorderIdentified):
        bay.device = device
        bay.news = f"firmware {happened.firmware_version}"
    elif isinstance(happened, CheckCompleted):
        reasons = "; ".join(happened.reasons)
        bay.news = happened.verdict + (f": {reasons}" if reasons else "")
        if bay.late_clips:
            bay.news += f" · {bay.late_clips} clip(s) handed over late"
        _say(projection, f"{where}: check {bay.news}")
    elif isinstance(happened, OffloadStarted):
        bay.clips_done, bay.clips_total = 0, happened.clip_count
    elif isinstance(happened, OffloadProgress):
        bay.clips_done, bay.clips_total = happened.done_clips, happened.total_clips
    elif isinstance(happened, ClipStored):
        projection.stored_clips += 1
        if happened.is_late:
            projection.late_clips += 1
            bay.late_clips += 1
            hours = happened.handover_delay_s / 3600
            bay.news = f"clip handed over late: {hours:.0f} h after recording"
            _say(projection, f"{where}: {bay.news}")
    elif isinstance(happened, ClipQuarantined):
        projection.quarantined_clips += 1
        bay.news = f"quarantined {happened.reason}"
        _say(projection, f"{where}: {bay.news}")
    elif isinstance(happened, OffloadFinished):
        bay.news = (
            f"offload: {happened.stored_count} stored, {happened.quarantined_count} quarantined"
        )
        _say(projection, f"{where}: {bay.news}")
    elif isinstance(happened, VoiceNotesNeeded) and happened.keys:
        bay.news = f"{len(happened.keys)} voice note(s) needed: press the bay button"
        _say(projection, f"{where}: {bay.news}")
    elif isinstance(happened, VoiceNoteStarted):
        bay.news = "recording the officer's voice note"
        _say(projection, f"{where}: button pressed, {bay.news}")
    elif isinstance(happened, InterruptionExplained):
        bay.news = f"interruption explained ({happened.status})"
        _say(projection, f"{where}: {bay.news}")
    elif isinstance(happened, ReflashStarted):
        bay.news = f"reflashing {happened.from_version} -> {happened.to_version}"
        _say(projection, f"{where}: {bay.news}")
    elif isinstance(happened, ReflashFinished):
        bay.news = f"firmware {happened.to_version} {happened.result}"
        _say(projection, f"{where}: {bay.news}")


def _say(projection: Projection, line: str) -> None:
    projection.news = (projection.news + [line])[-NEWS_LINES:]


class Board:
    """Follows the journal on its own thread; `render()` draws what it holds now."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        *,
        count: int,
        dock_id: str,
        header: list[str],
        registry_url: str,
        lines: deque[str],
    ) -> None:
        self.db = db
        self.count = count
        self.dock_id = dock_id
        self.header = header
        self.registry_url = registry_url.rstrip("/")
        self.cursor_file = CursorFile(Path(data_dir) / CURSOR_FILE_NAME)
        self.cursor = 0
        self.projection = Projection({n: BayView() for n in range(1, count + 1)})
        saved = self.cursor_file.load()
        if saved is not None:
            try:
                self.projection = Projection.from_json(saved[1], range(1, count + 1))
                self.cursor = saved[0]
            except (KeyError, TypeError, ValueError) as err:
                log.warning("board: saved state unusable (%s); rebuilding", err)
        self.registry_rows: int | None = None  # rows of this dock the registry verified
        self.lines = lines  # what `serve` itself says, one line each (its echo)
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def bay(self, number: int) -> BayView:
        with self._lock:
            return replace(self.projection.bays[number])

    def poll(self) -> int:
        """Read what was committed since the last call; returns how many rows were read."""
        total = 0
        while True:
            typed = read_after(self.db, self.cursor, 200)
            with self._lock:
                for item in typed:
                    if item.event is not None:
                        apply_event(self.projection, item.event)
                    self.cursor = item.entry.id
                document = self.projection.to_json()
            total += len(typed)
            if len(typed) < 200:
                break
        if total:
            self.cursor_file.save(self.cursor, document)
        return total

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-board", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        next_registry = 0.0
        while not self._stop.wait(POLL_S):
            try:
                self.poll()
            except DockError as err:
                log.warning("board: %s", err)
            if time.monotonic() >= next_registry:
                next_registry = time.monotonic() + REGISTRY_EVERY_S
                self.registry_rows = self._registry_head()

    def _registry_head(self) -> int | None:
        url = f"{self.registry_url}/api/docks/{self.dock_id}/head"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
                return int(json.load(answer).get("verified_head_id") or 0)
        except (OSError, ValueError):
            return None  # not reported yet (404), or the registry is still starting

    def __rich__(self) -> Group:
        return self.render()

    def render(self) -> Group:
        elapsed_s = time.monotonic() - self._started
        with self._lock:
            projection = Projection.from_json(self.projection.to_json(), range(1, self.count + 1))
            lines = list(self.lines)
            cursor = self.cursor
        table = Table("", "light", "state", "officer", "recorder", "offload", "latest", expand=True)
        for number, bay in sorted(projection.bays.items()):
            pattern = pattern_for(bay.light)
            colour = pattern.color_at(elapsed_s)
            progress = ""
            if bay.light.progress is not None:
                progress = f"{bay.light.progress:4.0%}"
                if bay.clips_total:
                    progress += f" {bay.clips_done}/{bay.clips_total} clips"
            table.add_row(
                f"bay {number}",
                Text("●", style=STYLE[colour]) + Text(f" {pattern.name}"),
                str(bay.light.state),
                officer_of(projection, bay.device) if bay.device else "",
                bay.device,
                progress,
                bay.news or bay.reason,
            )
        held = "not yet" if self.registry_rows is None else f"{self.registry_rows}"
        totals = Text(
            f"journal rows {cursor} · registry holds {held} · clips stored "
            f"{projection.stored_clips}, late {projection.late_clips}, quarantined "
            f"{projection.quarantined_clips}, central copies {projection.replicated_clips}",
            style="cyan",
        )
        news = [Text(line, style="dim") for line in projection.news[-4:] + lines[-4:]]
        return Group(*(Text(h, style="bold") for h in self.header), table, totals, *news)

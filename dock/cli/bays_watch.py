"""`dock bays --watch`: each bay's light, state and prompt, drawn live in the terminal.

The lights are those the service shows: its lights follower saves the projection of every
bay (state, progress, notes asked for, a note being recorded) beside its journal cursor, and
this view draws the same patterns (dock.lights.pattern_for) in their colours, blinking as
the pins do. A dock without a panel keeps no such file; the bays' states then come from the
bays table alone. The notes owed are the unexplained interruptions of the docked recorder.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from rich.live import Live
from rich.table import Table
from rich.text import Text

from dock.bays.states import BayState
from dock.lights import BayLight, pattern_for, saved_lights
from hw.gpio import Color

STYLE = {
    Color.OFF: "grey30",
    Color.RED: "bold red",
    Color.GREEN: "bold green",
    Color.AMBER: "bold yellow",
}
REFRESH_S = 0.25


def _bays(raw: sqlite3.Connection) -> dict[int, tuple[str, str, str | None]]:
    return {
        number: (state, reason, device)
        for number, state, reason, device in raw.execute(
            "SELECT number, state, reason, device_serial FROM bays"
        )
    }


def _owed(raw: sqlite3.Connection, device: str) -> int:
    (count,) = raw.execute(
        "SELECT count(*) FROM interruptions WHERE device_serial = ? AND status = 'unexplained'",
        (device,),
    ).fetchone()
    return int(count)


def view(raw: sqlite3.Connection, data_dir: Path, count: int, elapsed_s: float) -> Table:
    rows = _bays(raw)
    numbers = sorted(set(rows) | set(range(1, count + 1)))
    lights = saved_lights(data_dir, numbers)
    out = Table("bay", "light", "state", "device", "progress", "prompt")
    for number in numbers:
        state, reason, device = rows.get(number, (BayState.EMPTY.value, "", None))
        light = (lights or {}).get(number) or BayLight(state=BayState(state))
        pattern = pattern_for(light)
        color = pattern.color_at(elapsed_s)
        progress = "" if light.progress is None else f"{light.progress:.0%}"
        owed = _owed(raw, device) if device else 0
        if light.is_recording_note:
            prompt = "recording a note: press again to finish"
        elif light.is_note_needed and owed:
            prompt = f"{owed} note(s) needed: press the button and speak"
        else:
            prompt = reason if reason and reason != state.upper() else ""
        out.add_row(
            str(number),
            Text("●", style=STYLE[color]) + Text(f" {pattern.name}"),
            state,
            device or "",
            progress,
            prompt,
        )
    return out


def watch(db_path: Path, data_dir: Path, count: int, stop: threading.Event | None = None) -> None:
    """Redraw until Ctrl-C (or `stop`); a fresh read each time, no write ever."""
    stop = stop or threading.Event()
    raw = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    start = time.monotonic()
    try:
        with Live(view(raw, data_dir, count, 0.0), auto_refresh=False) as live:
            while not stop.wait(REFRESH_S):
                live.update(view(raw, data_dir, count, time.monotonic() - start), refresh=True)
    except KeyboardInterrupt:
        pass
    finally:
        raw.close()

"""The two processes of the `dock serve` memory bench, so the dock is measured alone.

    python -m bench._serve_child recorders DATA_DIR N
        enrols and pairs N simulated recorders in DATA_DIR's database (as `--simulate` does),
        plugs them, prints one JSON line {bay: [pty port, "dir", card folder, label]}, serves
        them until its stdin closes.
    python -m bench._serve_child dock CONFIG PORTS_JSON
        the dock service of `dock serve`, its bays wired to those ports and cards; prints
        the verdict lines `dock serve` prints, then `bench-docking-s BAY SECONDS` (from the
        hot-plug arrival to the verdict: the whole docking), and stops on SIGTERM.

The dock child imports the CLI first and runs the bay panel (lights, buttons) as `dock serve`
does, so its footprint is the footprint of `dock serve`.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path


def recorders(data_dir: Path, count: int) -> None:
    from dock.clock import SystemClock
    from dock.db.database import open_database
    from dock.events import EventBus
    from dock.simulation import SimulatedBays
    from hw.volumes import SimulatedVolumes

    db = open_database(data_dir, EventBus())
    try:
        bays = SimulatedBays(count, data_dir, db, SystemClock(), SimulatedVolumes())
    finally:
        db.close()
    try:
        ports = {
            bay: [recorder.plug(), "dir", str(recorder.storage.location), recorder.storage.label]
            for bay, recorder in bays.recorders.items()
        }
        print(json.dumps(ports), flush=True)
        sys.stdin.read()  # the bench closes our stdin when the dock has stopped
    finally:
        bays.stop()


def dock(config: Path, ports: dict[str, list[str]]) -> None:
    import dock.cli  # noqa: F401  (the same imports as `dock serve`)
    from dock.bays.docking import DockingResult
    from dock.clock import SystemClock
    from dock.config import load_settings
    from dock.control import ControlServer
    from dock.main import VerdictPrinter, build_service
    from dock.panel import build_panel
    from dock.simulation import port_path, simulated_settings
    from hw.clock_sync import FakeClockSync
    from hw.hotplug import SimulatedHotplug
    from hw.volumes import SimulatedVolumes

    settings = simulated_settings(load_settings(config), len(ports))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    hotplug, volumes = SimulatedHotplug(), SimulatedVolumes()
    printer = VerdictPrinter(print)
    attached_at = time.monotonic()

    def verdict(bay: int, result: DockingResult) -> None:
        printer.verdict(bay, result)
        print(f"bench-docking-s {bay} {time.monotonic() - attached_at:.3f}", flush=True)

    control = ControlServer(settings.dock.data_dir)
    service, db = build_service(
        settings,
        hotplug=hotplug,
        clock_sync=FakeClockSync(True),
        volumes=volumes,
        on_result=verdict,
    )
    printer.service = service
    # The bay panel as on a Pi with lights and buttons (gpiozero's mock pins stand in).
    panel = build_panel(settings, db, SystemClock(), simulate=True)
    try:
        if panel is not None:
            panel.start()
        control.start(service)
        attached_at = time.monotonic()
        for bay, (port, kind, location, label) in sorted(ports.items()):
            volumes.insert(port_path(int(bay)), kind, Path(location), label)
            volumes.expose(port_path(int(bay)), True)  # unlocked for the whole bench
            hotplug.attach(port_path(int(bay)), port)
        hotplug.scan_done()
        service.run(stop)
    finally:
        if panel is not None:
            panel.stop()
        control.stop()
        db.close()
    print("dock stopped", flush=True)


if __name__ == "__main__":
    role, first, second = sys.argv[1:4]
    if role == "recorders":
        recorders(Path(first), int(second))
    else:
        dock(Path(first), json.loads(second))

"""Docking figures.

- plug-in to READY: in-process DockService with simulated hot-plug and one simulated recorder
  (the real firmware over a pty) taken out and docked again 50 times; each sample runs from
  the hot-plug arrival to the verdict handed back by the bay's thread, so it holds the whole
  conversation: hello, identify, key proof, status, clock set and read back, the journaled
  state moves (SQLite, synchronous=FULL) and the ledger's return.
- peak RSS: a `dock serve --simulate 8` process once all 8 verdicts are in (VmHWM). The
  simulated recorders run inside that process, so the figure includes them: an upper bound
  for the dock alone.
"""

from __future__ import annotations

import queue
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.link import _percentile
from dock.bays.states import BayState
from dock.clock import SystemClock
from dock.config import parse_settings
from dock.main import build_service
from dock.simulated_process import SimulatedDockProcess
from dock.simulation import SimulatedBays, port_path, simulated_settings
from hw.clock_sync import FakeClockSync
from hw.hotplug import SimulatedHotplug
from hw.volumes import SimulatedVolumes

DOCKINGS = 50
WARM_UP = 3
RSS_BAYS = 8
WAIT_S = 60


def plug_to_ready() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-docking-") as tmp:
        base = parse_settings({"dock": {"data_dir": str(Path(tmp) / "data")}}, Path(tmp), None)
        settings = simulated_settings(base, 1)
        hotplug = SimulatedHotplug()
        results: queue.Queue = queue.Queue()
        volumes = SimulatedVolumes()
        service, db = build_service(
            settings,
            hotplug=hotplug,
            clock_sync=FakeClockSync(True),
            volumes=volumes,
            on_result=lambda bay, result: results.put(result),
        )
        simulated = SimulatedBays(1, settings.dock.data_dir, db, SystemClock(), volumes)
        recorder, machine = simulated.recorders[1], service.bays[1].machine
        stop = threading.Event()
        runner = threading.Thread(target=service.run, args=(stop,))
        runner.start()
        samples_ms = []
        try:
            for i in range(WARM_UP + DOCKINGS):
                start = time.perf_counter()
                simulated.plug(1, hotplug)  # the first docking also offloads its clips
                result = results.get(timeout=WAIT_S)
                elapsed_ms = (time.perf_counter() - start) * 1000
                if result.state is not BayState.READY:
                    raise RuntimeError(f"docking {i} ended {result.state}, not ready")
                if i >= WARM_UP:
                    samples_ms.append(elapsed_ms)
                recorder.unplug()
                hotplug.detach(port_path(1))
                _wait_until(lambda: machine.state is BayState.EMPTY)
        finally:
            stop.set()
            runner.join(WAIT_S)
            simulated.stop()
            db.close()
    return {
        "name": "docking_plug_to_ready",
        "figures": {
            "median": round(statistics.median(samples_ms), 1),
            "p99": round(_percentile(samples_ms, 99), 1),
            "max": round(max(samples_ms), 1),
            "dockings": DOCKINGS,
        },
        "units": {"median": "ms", "p99": "ms", "max": "ms", "dockings": "count"},
    }


def peak_rss_8_bays() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-docking-") as tmp:
        config = Path(tmp) / "dock.toml"
        config.write_text('[dock]\ndata_dir = "data"\n[bays]\ncount = 8\n', encoding="utf-8")
        with SimulatedDockProcess(config, RSS_BAYS) as dock:
            start = time.perf_counter()
            verdicts = dock.wait_for_verdicts(RSS_BAYS, WAIT_S)
            docked_s = time.perf_counter() - start
            peak_kib, now_kib = _status_kib(dock.pid, "VmHWM"), _status_kib(dock.pid, "VmRSS")
            if dock.stop() != 0:
                raise RuntimeError(
                    "dock serve did not stop cleanly: " + " ".join(dock.stderr_lines)
                )
    ready = sum(1 for word, _ in verdicts.values() if word == "READY")
    return {
        "name": "docking_peak_rss_8_bays",
        "figures": {
            "peak_rss": round(peak_kib / 1024, 1),
            "rss_docked": round(now_kib / 1024, 1),
            "bays": RSS_BAYS,
            "ready": ready,
            "start_to_8_verdicts": round(docked_s, 2),
        },
        "units": {
            "peak_rss": "MiB (VmHWM, dock + 8 simulated recorders in one process)",
            "rss_docked": "MiB (VmRSS)",
            "bays": "count",
            "ready": "count (bay 2 is low on battery by design)",
            "start_to_8_verdicts": "s (process start, migrations, pairing, 8 dockings)",
        },
    }


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def _wait_until(condition, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the bay did not empty after the recorder left")
        time.sleep(0.002)


def run() -> list[dict]:
    return [plug_to_ready(), peak_rss_8_bays()]

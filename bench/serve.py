"""`dock serve` memory with 8 bays docked and offloading, the dock alone.

The simulated recorders run in their own process (bench._serve_child recorders), so the
figure is the dock's: its imports, its threads' stacks and malloc arenas, its copy buffers.
The dock runs with the environment of the systemd unit (MALLOC_ARENA_MAX).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dock.simulated_process import SimulatedDockProcess

BAYS = 8
WAIT_S = 120
TARGET_MB = 80
UNIT_ENV = {"MALLOC_ARENA_MAX": "2"}  # as in systemd/bodycam-dock.service


class _DockAlone(SimulatedDockProcess):
    def __init__(self, config: Path, ports: dict, env: dict[str, str]) -> None:
        super().__init__(config, len(ports))
        settings = [f"{k}={v}" for k, v in env.items()]
        self.command = ["env", *settings, sys.executable, "-m", "bench._serve_child", "dock"]
        self.command += [str(config), json.dumps(ports)]


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def serve_rss(bays: int = BAYS, env: dict[str, str] | None = None) -> dict:
    """Peak and settled RSS of the dock process once every bay has its verdict."""
    env = UNIT_ENV if env is None else env
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-serve-", dir="/var/tmp") as tmp:
        config = Path(tmp) / "dock.toml"
        config.write_text(f'[dock]\ndata_dir = "data"\n[bays]\ncount = {bays}\n', "utf-8")
        data = Path(tmp) / "data"
        recorders = subprocess.Popen(
            [sys.executable, "-m", "bench._serve_child", "recorders", str(data), str(bays)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert recorders.stdout is not None and recorders.stdin is not None
            ports = json.loads(recorders.stdout.readline())
            with _DockAlone(config, ports, env) as dock:
                start = time.perf_counter()
                verdicts = dock.wait_for_verdicts(bays, WAIT_S)
                docked_s = time.perf_counter() - start
                peak_kib = status_kib(dock.pid, "VmHWM")
                now_kib = status_kib(dock.pid, "VmRSS")
                threads = status_kib(dock.pid, "Threads")
                if dock.stop() != 0:
                    raise RuntimeError(
                        "the dock did not stop cleanly: " + " ".join(dock.stderr_lines)
                    )
        finally:
            if recorders.stdin is not None:
                recorders.stdin.close()
            recorders.wait(WAIT_S)
    offloads = sum(1 for line in dock.stdout_lines if ": offload: " in line)
    return {
        "name": f"serve_rss_{bays}_bays_offloading",
        "figures": {
            "peak_rss_mb": round(peak_kib * 1024 / 1e6, 1),
            "peak_vs_target": round(peak_kib * 1024 / 1e6 / TARGET_MB, 3),
            "rss_settled_mb": round(now_kib * 1024 / 1e6, 1),
            "bays": bays,
            "offloads": offloads,
            "verdicts": len(verdicts),
            "threads": threads,
            "start_to_verdicts_s": round(docked_s, 2),
            "loadavg_1m_at_start": round(load, 2),
            "env": " ".join(f"{k}={v}" for k, v in env.items()),
        },
        "units": {
            "peak_rss_mb": "MB (VmHWM of the dock process alone; recorders in another process)",
            "peak_vs_target": f"ratio to {TARGET_MB} MB (target at most 1)",
            "rss_settled_mb": "MB (VmRSS once every bay has its verdict)",
            "offloads": "bays that offloaded clips",
            "threads": "count (at the verdicts)",
        },
        "targets": {"peak_vs_target": "<= 1"},
    }


def run() -> list[dict]:
    return [serve_rss()]

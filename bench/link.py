"""Recorder link figures over a real pty against the simulator.

- request round trip: GetStatus, one at a time, as the dock polls a docked recorder;
- listing 5,000 clips: every ListClips page, from Hello to the last clip, as at docking.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from firmware_bridge.client import RecorderClient
from firmware_bridge.sim import generate_clips
from firmware_bridge.sim.recorder import directory_recorder

ROUND_TRIPS = 500
LIST_CLIPS = 5000
LIST_RUNS = 3


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _client(port: str | None) -> RecorderClient:
    if port is None:
        raise RuntimeError("the simulated recorder has no port")
    return RecorderClient.open(port)


def round_trip() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-link-") as tmp:
        clips, _ = generate_clips(5, size_bytes=1024, seed=1)
        with (
            directory_recorder(Path(tmp) / "card", clips) as sim,
            _client(sim.port) as client,
        ):
            client.hello()
            for _ in range(20):  # warm up: imports, caches, the pty's buffers
                client.status()
            samples_ms = []
            for _ in range(ROUND_TRIPS):
                start = time.perf_counter()
                client.status()
                samples_ms.append((time.perf_counter() - start) * 1000)
            retries = client.stats.retries
    return {
        "name": "link_round_trip_get_status",
        "figures": {
            "median": round(statistics.median(samples_ms), 3),
            "p99": round(_percentile(samples_ms, 99), 3),
            "max": round(max(samples_ms), 3),
            "requests": ROUND_TRIPS,
            "retries": retries,
        },
        "units": {
            "median": "ms",
            "p99": "ms",
            "max": "ms",
            "requests": "count",
            "retries": "count",
        },
    }


def list_clips() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-link-") as tmp:
        clips, _ = generate_clips(LIST_CLIPS, size_bytes=256, seed=2, interruption_every=0)
        with (
            directory_recorder(Path(tmp) / "card", clips) as sim,
            _client(sim.port) as client,
        ):
            runs_s = []
            for _ in range(LIST_RUNS):
                start = time.perf_counter()
                client.hello()  # a new conversation: the recorder lists its card afresh
                listed = client.list_clips()
                runs_s.append(time.perf_counter() - start)
                if len(listed) != LIST_CLIPS:
                    raise RuntimeError(f"listed {len(listed)} clips, expected {LIST_CLIPS}")
            pages = (client.stats.requests - LIST_RUNS) // LIST_RUNS
    median_s = statistics.median(runs_s)
    return {
        "name": "link_list_5000_clips",
        "figures": {
            "median": round(median_s, 3),
            "min": round(min(runs_s), 3),
            "clips_per_s": round(LIST_CLIPS / median_s),
            "pages": pages,
            "runs": LIST_RUNS,
        },
        "units": {
            "median": "s",
            "min": "s",
            "clips_per_s": "clips/s",
            "pages": "ListClips requests",
            "runs": "count",
        },
    }


def run() -> list[dict]:
    return [round_trip(), list_clips()]

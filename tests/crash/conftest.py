"""A recorder card, its clip manifest and a dock's data on disk, and the child that offloads them.

`CrashRig` keeps in a folder what outlives a SIGKILL: the card (a directory, as the
recorder's flash), `manifest.json` (every clip the recorder ever recorded, with its
SHA-256: what the test holds the dock to) and the dock's `data/`. `start_child()` runs
tests/crash/offload_child.py on it in its own session and records its milestone lines
with the time each arrived.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from firmware_bridge.sim import GeneratedClip, generate_clips, write_clip_tree
from firmware_bridge.sim.clips import DEFAULT_FIRST_START_UTC_S

CHILD = Path(__file__).with_name("offload_child.py")
SERIAL = "ZFY90001"
DAY_S = 24 * 3600
# One batch: clips of three sizes, each size on its own days (paths never repeat).
BATCH_SIZES = ((10, 200_000), (10, 1_500_000), (4, 5_000_000))


class Child:
    """One run of the offload child; `lines` are (seconds since start, text)."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.started_s = time.monotonic()
        self.stderr_path = workdir / "child-stderr.txt"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, str(CHILD), str(workdir), *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,  # its own group: the kill reaches anything it started
            )
        self.lines: list[tuple[float, str]] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append((time.monotonic() - self.started_s, line.strip()))
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def line(self, prefix: str) -> str | None:
        with self._seen:
            return next((text for _, text in self.lines if text.startswith(prefix)), None)

    def wait_for(self, prefix: str, timeout_s: float) -> float | None:
        """Seconds since start when a line with `prefix` came, or None if the child ended first."""
        deadline = time.monotonic() + timeout_s
        with self._seen:
            while True:
                found = next((t for t, text in self.lines if text.startswith(prefix)), None)
                if found is not None:
                    return found
                if self.proc.poll() is not None and not self._reader.is_alive():
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the offload child printed no {prefix!r} in {timeout_s} s"
                    )
                self._seen.wait(min(left, 0.2))

    def kill(self) -> bool:
        """SIGKILL the child's whole group; True when it was still running."""
        was_running = self.proc.poll() is None
        if was_running:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(30)
        return was_running

    def finish(self, timeout_s: float) -> None:
        """Wait for a run that is not killed; fail with the child's stderr if it failed."""
        self.proc.wait(timeout_s)
        self._reader.join(30)
        assert self.proc.returncode == 0, self.stderr_path.read_text()[-3000:]


class CrashRig:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.card = workdir / "card"
        self.data_dir = workdir / "data"
        self.card.mkdir(parents=True)
        self.clips: list[GeneratedClip] = []
        self.batches = 0

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    def add_batch(self) -> None:
        """Record a new batch of clips on the card (new seeds, new days, new paths)."""
        for count, size_bytes in BATCH_SIZES:
            day = len(self.clips) + self.batches  # distinct for every call
            clips, _events = generate_clips(
                count,
                size_bytes=size_bytes,
                seed=1000 * self.batches + size_bytes,
                first_start_utc_s=DEFAULT_FIRST_START_UTC_S + 2 * day * DAY_S,
            )
            write_clip_tree(self.card, clips)
            self.clips.extend(clips)
        self.batches += 1
        self._write_manifest()

    def _write_manifest(self) -> None:
        listing = [{**dataclasses.asdict(c), "sha256": c.sha256.hex()} for c in self.clips]
        temp = self.workdir / "manifest.json.tmp"
        temp.write_text(json.dumps({"serial": SERIAL, "clips": listing}))
        os.replace(temp, self.workdir / "manifest.json")

    def manifest(self) -> dict[str, str]:
        """card path -> SHA-256 hex of every clip ever recorded."""
        return {c.path: c.sha256.hex() for c in self.clips}

    def card_contents(self) -> dict[str, str]:
        """card path -> SHA-256 hex of the bytes on the card now."""
        found = {}
        for path in self.card.rglob("*"):
            if path.is_file():
                found[path.relative_to(self.card).as_posix()] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
        return found

    def card_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.card.rglob("*") if p.is_file())

    def start_child(self, *args: str) -> Child:
        return Child(self.workdir, *args)


@pytest.fixture
def make_rig(tmp_path):
    made: list[CrashRig] = []

    def make() -> CrashRig:
        rig = CrashRig(tmp_path / f"rig{len(made)}")
        made.append(rig)
        return rig

    return make

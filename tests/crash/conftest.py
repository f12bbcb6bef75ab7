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

import psutil
import pytest

from firmware_bridge.sim import (
    Fat32ImageStorage,
    GeneratedClip,
    generate_clips,
    make_storage,
    write_clip_tree,
)
from firmware_bridge.sim.clips import DEFAULT_FIRST_START_UTC_S

CHILD = Path(__file__).with_name("offload_child.py")
SERIAL = "ZFY90001"
DAY_S = 24 * 3600
# One batch: clips of three sizes, each size on its own days (paths never repeat).
BATCH_SIZES = ((10, 200_000), (10, 1_500_000), (4, 5_000_000))
FAT_CLUSTER_BYTES = 4096
GROUP_EXIT_WAIT_S = 30


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

    def when(self, prefix: str) -> float | None:
        """Seconds since start when a line with `prefix` came, if it did."""
        with self._seen:
            return next((t for t, text in self.lines if text.startswith(prefix)), None)

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
        """SIGKILL the dock's process; True when it was still running.

        A card write the recorder had started (mdel on a FAT32 image, its own process) is
        left to finish, as a recorder's firmware finishes when the dock dies; the next run
        starts only once it has.
        """
        was_running = self.proc.poll() is None
        if was_running:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(30)
        deadline = time.monotonic() + GROUP_EXIT_WAIT_S
        while _group_members(self.proc.pid):
            assert time.monotonic() < deadline, "a card write outlived the dock by 30 s"
            time.sleep(0.02)
        return was_running

    def finish(self, timeout_s: float) -> None:
        """Wait for a run that is not killed; fail with the child's stderr if it failed."""
        self.proc.wait(timeout_s)
        self._reader.join(30)
        assert self.proc.returncode == 0, self.stderr_path.read_text()[-3000:]


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in the process group the child led."""
    members = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


class CrashRig:
    """card_kind "dir" (a directory), "fat32" (an image the simulator makes) or
    "fat32-damaged" (tests/crash/damaged_card.py: made once, served as it is)."""

    def __init__(self, workdir: Path, card_kind: str = "dir") -> None:
        self.workdir = workdir
        self.card_kind = card_kind
        self.card = workdir / ("card" if card_kind == "dir" else "card.img")
        self.data_dir = workdir / "data"
        workdir.mkdir(parents=True)
        self.clips: list[GeneratedClip] = []
        self.batches = 0

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    def add_batch(self) -> None:
        """Record a new batch of clips on the card (new seeds, new days, new paths).

        A FAT32 card is made again holding the clips still on it and the new ones: the same
        contents as adding files, without writing into an image outside the recorder.
        """
        new: list[GeneratedClip] = []
        for count, size_bytes in BATCH_SIZES:
            day = len(self.clips) + len(new) + self.batches  # distinct for every call
            clips, _events = generate_clips(
                count,
                size_bytes=size_bytes,
                seed=1000 * self.batches + size_bytes,
                first_start_utc_s=DEFAULT_FIRST_START_UTC_S + 2 * day * DAY_S,
            )
            new.extend(clips)
        if self.card_kind == "dir":
            self.card.mkdir(exist_ok=True)
            write_clip_tree(self.card, new)
        else:
            on_card = self.card_contents() if self.card.exists() else {}
            kept = [c for c in self.clips if c.path in on_card]
            self.card.unlink(missing_ok=True)
            make_storage("fat32", self.card, SERIAL, kept + new, cluster_bytes=FAT_CLUSTER_BYTES)
        self.clips.extend(new)
        self.batches += 1
        self._write_manifest()

    def serve_damaged_card(self) -> None:
        """The recorder serves a damaged card as it is: it recorded none of it itself."""
        self._write_manifest()

    def _write_manifest(self) -> None:
        listing = [{**dataclasses.asdict(c), "sha256": c.sha256.hex()} for c in self.clips]
        temp = self.workdir / "manifest.json.tmp"
        manifest = {"serial": SERIAL, "card_kind": self.card_kind, "clips": listing}
        temp.write_text(json.dumps(manifest))
        os.replace(temp, self.workdir / "manifest.json")

    def manifest(self) -> dict[str, str]:
        """card path -> SHA-256 hex of every clip ever recorded."""
        return {c.path: c.sha256.hex() for c in self.clips}

    def card_contents(self) -> dict[str, str]:
        """card path -> SHA-256 hex of the bytes on the card now."""
        if self.card_kind.startswith("fat32"):
            card = Fat32ImageStorage(self.card, SERIAL)
            return {path: card.sha256(path).hex() for path, _ in card.list_files()}
        found = {}
        for path in self.card.rglob("*"):
            if path.is_file():
                found[path.relative_to(self.card).as_posix()] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
        return found

    def card_bytes(self) -> int:
        if self.card_kind.startswith("fat32"):
            return sum(size for _, size in Fat32ImageStorage(self.card, SERIAL).list_files())
        return sum(p.stat().st_size for p in self.card.rglob("*") if p.is_file())

    def start_child(self, *args: str) -> Child:
        return Child(self.workdir, *args)


@pytest.fixture
def make_rig(tmp_path):
    made: list[CrashRig] = []

    def make(card_kind: str = "dir") -> CrashRig:
        rig = CrashRig(tmp_path / f"rig{len(made)}", card_kind)
        made.append(rig)
        return rig

    return make

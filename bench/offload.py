"""Offload speed: the dock's one-pass copy against what a careful custodian does by hand.

All in one run, on the same clips (BENCH_OFFLOAD_MB, default 2048 MiB, as 16 clips):
T  the dock's offload (copy_and_hash of every clip from a directory into a store);
B  `cp -r` + `sync` + `sha256sum` of every copy;  A  `cp -r` + `sync`;  H  hashlib alone;
T_fat / T_exfat  the same clips read from FAT32 (32 KiB clusters) and exFAT images;
bays  4 concurrent offloads against 1, sources and store on tmpfs (CPU-bound, as on a Pi 4)
and with the store on disk.
Source clips sit in the page cache for every variant alike (they were just written); each
variant starts after a `sync` and the variants run twice, interleaved, and are averaged.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dock.offload.copy import copy_and_hash
from dock.offload.store import EvidenceStore

MIB = 1 << 20
CLIPS = 16


def _make_clips(root: Path, total_mb: int, count: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    per_clip = max(total_mb // count, 1) * MIB
    paths = []
    for i in range(count):
        p = root / f"20261123_08{i:02d}00_{i:04d}.MP4"
        with open(p, "wb") as f:
            block = os.urandom(MIB)
            for j in range(per_clip // MIB):
                f.write(block[j % 251 :] + block[: j % 251])  # no two blocks alike
        paths.append(p)
    subprocess.run(["sync"], check=True)
    return paths


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def _timed(fn: Callable[[], None]) -> float:
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _offload_dir(paths: list[Path], store_root: Path) -> None:
    store = EvidenceStore(store_root, reserve_bytes=0)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            copy_and_hash(f, p.stat().st_size, store)


def _offload_volume(volume, store_root: Path) -> None:
    store = EvidenceStore(store_root, reserve_bytes=0)
    try:
        for entry in volume.walk():
            if entry.kind == "file":
                with volume.open(entry) as f:
                    copy_and_hash(f, entry.size_bytes, store)
    finally:
        volume.close()


def _hash_only(paths: list[Path]) -> None:
    buf = bytearray(4 * MIB)
    view = memoryview(buf)
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])


def _make_fat_image(work: Path, src: Path, total_mb: int) -> Path:
    image = work / "fat32.img"
    _sh("truncate", "-s", f"{max(total_mb * 11 // 10 + 256, 2200)}M", str(image))
    _sh("mkfs.vfat", "-F", "32", "-s", "64", "-n", "ZFY00001", str(image))
    _sh("mcopy", "-s", "-i", str(image), str(src), "::/DCIM")
    return image


def _make_exfat_image(work: Path, src: Path, total_mb: int) -> Path | None:
    if (
        os.geteuid() != 0
        or not Path("/dev/loop-control").exists()
        or not Path("/dev/fuse").exists()
    ):
        return None
    image, mnt = work / "exfat.img", work / "exmnt"
    mnt.mkdir()
    _sh("truncate", "-s", f"{total_mb * 11 // 10 + 256}M", str(image))
    _sh("mkfs.exfat", "-c", "32K", "-L", "ZFY00001", str(image))
    loop = subprocess.run(
        ["losetup", "-f", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        _sh("mount.exfat-fuse", loop, str(mnt))
        try:
            shutil.copytree(src, mnt / "DCIM")
        finally:
            _sh("umount", str(mnt))
    finally:
        _sh("losetup", "-d", loop)
    return image


def _bays(sources: list[Path], store_root: Path, bays: int) -> float:
    """Aggregate seconds for all sources, split over `bays` threads (one store)."""
    store = EvidenceStore(store_root, reserve_bytes=0)
    groups = [sources[i::bays] for i in range(bays)]

    def bay(paths: list[Path]) -> None:
        for p in paths:
            with open(p, "rb", buffering=0) as f:
                copy_and_hash(f, p.stat().st_size, store)

    threads = [threading.Thread(target=bay, args=(g,)) for g in groups]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    shutil.rmtree(store_root)
    return elapsed


def _bay_ratio(src: list[Path], work: Path) -> float:
    """Aggregate MB/s of 4 bays over 1 bay (the same bytes, so a ratio of times)."""
    runs: dict[int, list[float]] = {1: [], 4: []}
    for bays in (1, 4, 4, 1, 1, 4):  # interleaved; medians resist a neighbour's burst
        runs[bays].append(_bays(src, work / f"store{bays}", bays))
    return statistics.median(runs[1]) / statistics.median(runs[4])


def _hash_threads_ratio(threads: int, total_mb: int = 512) -> float:
    """hashlib releases the GIL on large buffers: N threads should hash ~N times as much."""
    block = os.urandom(MIB)

    def work(mb: int) -> None:
        h = hashlib.sha256()
        for _ in range(mb):
            h.update(block)

    def timed(n: int) -> float:
        ts = [threading.Thread(target=work, args=(total_mb // n,)) for _ in range(n)]
        start = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return time.perf_counter() - start

    one = statistics.median(timed(1) for _ in range(3))
    many = statistics.median(timed(threads) for _ in range(3))
    return one / many


def run() -> list[dict]:
    total_mb = int(os.environ.get("BENCH_OFFLOAD_MB", "2048"))
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-offload-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        src_dir = work / "src"
        clips = _make_clips(src_dir, total_mb, CLIPS)
        size_mb = sum(p.stat().st_size for p in clips) / MIB
        fat = _make_fat_image(work, src_dir, total_mb)
        exfat = _make_exfat_image(work, src_dir, total_mb)

        from hw.exfat import ExfatImageMassStorage
        from hw.fat32 import FatImageMassStorage

        def cp(dst: Path, with_sha: bool) -> Callable[[], None]:
            def go() -> None:
                _sh("cp", "-r", str(src_dir), str(dst))
                _sh("sync")
                if with_sha:
                    _sh("sha256sum", *sorted(str(p) for p in dst.iterdir()))

            return go

        variants: dict[str, Callable[[], None]] = {
            "T": lambda: _offload_dir(clips, work / "store"),
            "A": cp(work / "cpA", False),
            "B": cp(work / "cpB", True),
            "H": lambda: _hash_only(clips),
            "T_fat": lambda: _offload_volume(FatImageMassStorage(fat), work / "store"),
        }
        if exfat is not None:
            variants["T_exfat"] = lambda: _offload_volume(
                ExfatImageMassStorage(exfat), work / "store"
            )
        times: dict[str, list[float]] = {k: [] for k in variants}
        order = list(variants)
        for round_order in (order, order[::-1]):
            for name in round_order:
                for leftover in ("store", "cpA", "cpB"):
                    shutil.rmtree(work / leftover, ignore_errors=True)
                times[name].append(_timed(variants[name]))
        for leftover in ("store", "cpA", "cpB"):
            shutil.rmtree(work / leftover, ignore_errors=True)
        fat.unlink()
        if exfat is not None:
            exfat.unlink()
        shutil.rmtree(src_dir)
        mean = {k: sum(v) / len(v) for k, v in times.items()}

        bay_mb = max(min(256, total_mb // 8), 8)
        shm = Path(tempfile.mkdtemp(prefix="bench-offload-", dir="/dev/shm"))
        try:
            shm_src = _make_clips(shm / "src", bay_mb * 4, 4)
            ratio_tmpfs = _bay_ratio(shm_src, shm)
            ratio_disk = _bay_ratio(shm_src, work)
        finally:
            shutil.rmtree(shm)

    mbps = {k: round(size_mb / v, 1) for k, v in mean.items()}
    figures = {
        "clips_mb": round(size_mb),
        "offload_vs_cp_sha256": round(mean["T"] / mean["B"], 3),
        "offload_vs_limit": round(mean["T"] / max(mean["A"], mean["H"]), 3),
        "offload_fat_vs_dir": round(mean["T_fat"] / mean["T"], 3),
        "offload_exfat_vs_dir": round(mean["T_exfat"] / mean["T"], 3)
        if "T_exfat" in mean
        else None,
        "bays4_vs_bay1": round(ratio_tmpfs, 3),
        "bays4_vs_bay1_disk": round(ratio_disk, 3),
        "hash_2threads_vs_1": round(_hash_threads_ratio(2), 3),
        **{f"{k}_MBps": v for k, v in mbps.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loadavg_1m_at_start": round(load_at_start, 2),
        "note": "source clips are in the page cache for every variant alike; variants interleaved, 2 rounds averaged",
    }
    units = {"clips_mb": "MiB", "peak_rss_mb": "MiB", **{f"{k}_MBps": "MiB/s" for k in mbps}}
    return [{"name": "offload", "figures": figures, "units": units}]


if __name__ == "__main__":
    import json

    for line in run():
        print(json.dumps(line))

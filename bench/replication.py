"""The central copy's three figures in one run, against a local weed mini
(`python -m bench replication`).

(a) replication throughput over boto3's own `upload_file` of the same files (same server,
    same run; target >= 0.9). The replicator proves more per object than upload_file (the
    bytes hash to their name, HEAD shows the checksum and the COMPLIANCE lock), so the ratio
    says what that proof costs.
(b) offload throughput while the replicator works through a backlog over the offload alone
    (target >= 0.9): bench/offload.py's harness (its clips, copy_and_hash into the store)
    with the progress the real offload reports fed to the replicator's throttle, as serve()
    wires it; enough bytes to last several seconds. The target figure reads the clips at
    RECORDER_MB_S, as a recorder gives them over USB 2.0 mass storage; the unpaced figure
    beside it copies as fast as the CPUs allow with weed on the same two cores, which is the
    worst case and not a dock's (its store is on another machine).
(c) `dock store verify` over 2 GiB against sha256sum (bench/store_verify.py; target <= 0.5).
Every ratio is taken in two halves and repeated while they disagree (bench._steady), and
states the 1-minute load average, since weed, the dock and its neighbours share the CPUs.
weed runs niced with its data in /dev/shm because a dock's real store is elsewhere (its disk
writes would otherwise compete with the offload's fsyncs); the replicator nices itself.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from bench._steady import flatten, load_1m, steady
from bench.offload import MIB, _make_clips
from bench.store_verify import store_verify
from dock.clock import SystemClock
from dock.config import CentralSettings
from dock.db.database import open_database
from dock.events import Event, OffloadFinished, OffloadProgress, OffloadStarted
from dock.localrun.servers import SECRET_KEY
from dock.localrun.servers import WeedMini as SeaweedServer
from dock.offload.copy import copy_and_hash
from dock.offload.store import EvidenceStore
from dock.replication.central import CentralStore
from dock.replication.replicator import OffloadRate, Replicator
from tests.integration.replication_setup import journal_stored, put_local

FILES = 6
FILE_BYTES = 24 * MIB  # three parts of central.part_size_mib's default
OFFLOAD_MB = int(os.environ.get("BENCH_REPLICATION_OFFLOAD_MB", "512"))
OFFLOAD_CLIPS = 8
# A recorder gives its clips over USB 2.0 mass storage at about this rate; the paced figure is
# the one the target is for, because on a dock the card, not the CPU, bounds an offload.
RECORDER_MB_S = float(os.environ.get("BENCH_RECORDER_MB_S", "35"))
PACED_OFFLOAD_MB = int(os.environ.get("BENCH_REPLICATION_PACED_MB", "256"))


class _PacedSource:
    """A clip file read no faster than `mb_s`, as from a recorder's USB mass storage."""

    def __init__(self, raw: BinaryIO, mb_s: float) -> None:
        self.raw, self.bytes_per_s = raw, mb_s * 1e6
        self.start, self.done = time.perf_counter(), 0

    def readinto(self, buffer: bytearray | memoryview, /) -> int | None:
        n = self.raw.readinto(buffer)
        self.done += n or 0
        ahead = self.done / self.bytes_per_s - (time.perf_counter() - self.start)
        if ahead > 0:
            time.sleep(ahead)
        return n


class _RemoteLikeSeaweed(SeaweedServer):
    """weed mini at a low CPU priority, its data in RAM: a dock's real object store runs on
    other machines, so neither its CPU nor its disk writes are the dock's."""

    def command(self) -> list[str]:
        return ["nice", "-n", "10", *super().command()]


class _Run:
    """One weed mini, one local store of objects, and fresh replicators over them."""

    def __init__(self, root: Path, server: SeaweedServer) -> None:
        self.root, self.server = root, server
        self.store = EvidenceStore(root / "store", reserve_bytes=0)
        self.shas = [put_local(self.store, os.urandom(FILE_BYTES)) for _ in range(FILES)]
        self.settings = CentralSettings()
        self.count = 0

    def replicator(self, rate: OffloadRate | None = None) -> Replicator:
        """A replicator with its own database and an empty bucket: every object waits."""
        self.count += 1
        data = self.root / f"data{self.count}"
        db = open_database(data)
        for sha in self.shas:
            journal_stored(db, sha, FILE_BYTES)
        central = CentralStore(
            endpoint_url=self.server.endpoint_url, bucket=self.server.new_bucket(),
            region="us-east-1", access_key_id=self.server.access_key_id,
            secret_access_key=SECRET_KEY,
            part_size_bytes=self.settings.part_size_mib * MIB,
        )  # fmt: skip
        return Replicator(
            db, self.store, central, self.settings, SystemClock(), data, dock_id="bench",
            offload_rate=rate or (lambda: None),
        )  # fmt: skip

    def vs_upload_file(self) -> float:
        """upload_file seconds over replication seconds, the same files (a throughput ratio)."""
        client, plain = self.server.client(), self.server.new_bucket()
        start = time.perf_counter()
        for sha in self.shas:
            client.upload_file(str(self.store.path_of(sha)), plain, f"objects/{sha}")
        baseline_s = time.perf_counter() - start
        replicator = self.replicator()
        start = time.perf_counter()
        confirmed = replicator.run_once()
        replication_s = time.perf_counter() - start
        replicator.db.close()
        assert confirmed == FILES, f"only {confirmed} of {FILES} copies confirmed"
        return baseline_s / replication_s

    def offload(
        self, clips: list[Path], rate: OffloadRate | None, paced_mb_s: float | None = None
    ) -> float:
        """Seconds to offload the clips into a fresh store, reporting progress to `rate`."""
        store_root = self.root / "offload-store"
        shutil.rmtree(store_root, ignore_errors=True)
        store = EvidenceStore(store_root, reserve_bytes=0)
        total = sum(p.stat().st_size for p in clips)
        hear: Callable[[Event], None] = rate.hear if rate else (lambda _event: None)
        start = time.perf_counter()
        hear(OffloadStarted(bay=1, device="BC-1", clip_count=len(clips), total_bytes=total))
        done = 0
        for i, path in enumerate(clips):

            def progress(n: int, base: int = done, clip: int = i) -> None:
                hear(OffloadProgress(
                    bay=1, device="BC-1", done_clips=clip, total_clips=len(clips),
                    done_bytes=base + n, total_bytes=total,
                ))  # fmt: skip

            with open(path, "rb", buffering=0) as f:
                source = _PacedSource(f, paced_mb_s) if paced_mb_s else f
                copy_and_hash(source, path.stat().st_size, store, on_progress=progress)
            done += path.stat().st_size
        hear(OffloadFinished(bay=1, device="BC-1", stored_count=len(clips), quarantined_count=0,
                             failed_count=0))  # fmt: skip
        elapsed = time.perf_counter() - start
        shutil.rmtree(store_root)
        return elapsed

    def offload_with_vs_without(self, clips: list[Path], paced_mb_s: float | None = None) -> float:
        """Offload seconds alone over offload seconds with the replicator uploading a backlog."""
        alone_s = self.offload(clips, None, paced_mb_s)
        rate = OffloadRate(SystemClock())
        replicator = self.replicator(rate)
        started = threading.Event()
        real_put = replicator.central.put

        def put(*args, **kwargs):  # type: ignore[no-untyped-def]
            started.set()
            return real_put(*args, **kwargs)

        replicator.central.put = put  # type: ignore[method-assign]
        replicator.start()
        started.wait(30)
        try:
            with_s = self.offload(clips, rate, paced_mb_s)
        finally:
            replicator.stop()
            replicator.db.close()
        return alone_s / with_s


def run() -> list[dict]:
    load_at_start = load_1m()
    with tempfile.TemporaryDirectory(prefix="bench-replication-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        shm = Path(tempfile.mkdtemp(prefix="bench-replication-weed-", dir="/dev/shm"))
        server = _RemoteLikeSeaweed(shm / "seaweed")
        server.start()
        try:
            bench = _Run(root, server)
            vs_upload = steady(bench.vs_upload_file)
            clips = _make_clips(root / "clips", OFFLOAD_MB, OFFLOAD_CLIPS)
            offload_s = bench.offload(clips, None)
            vs_offload = steady(lambda: bench.offload_with_vs_without(clips))
            paced = _make_clips(root / "paced", PACED_OFFLOAD_MB, OFFLOAD_CLIPS)
            vs_paced = steady(lambda: bench.offload_with_vs_without(paced, RECORDER_MB_S))
        finally:
            server.stop()
            shutil.rmtree(shm, ignore_errors=True)
    verify = store_verify()
    figures = {
        **flatten("replication_vs_upload_file", vs_upload),
        "replication_files": FILES,
        "replication_file_mib": FILE_BYTES // MIB,
        **flatten("offload_with_vs_without_replication", vs_paced),
        "recorder_mb_s": RECORDER_MB_S,
        **flatten("unpaced_offload_with_vs_without_replication", vs_offload),
        "offload_mib": OFFLOAD_MB,
        "offload_alone_mib_s": round(OFFLOAD_MB / offload_s, 1),
        **{k: v for k, v in verify["figures"].items() if k.startswith("store_verify")},
        "loadavg_1m_at_start": load_at_start,
        "loadavg_1m_at_end": load_1m(),
    }
    return [
        {
            "name": "replication",
            "figures": figures,
            "units": {
                "replication_vs_upload_file": "replication MB/s / upload_file MB/s, same files",
                "offload_with_vs_without_replication": (
                    "offload MB/s with / without, the card read at recorder_mb_s"
                ),
                "unpaced_offload_with_vs_without_replication": (
                    "the same from a local file as fast as the CPUs go, weed on the same machine"
                ),
                "store_verify_vs_sha256sum": verify["units"]["store_verify_vs_sha256sum"],
                "offload_alone_mib_s": "MiB/s",
            },
            "targets": {
                "replication_vs_upload_file": ">= 0.9",
                "offload_with_vs_without_replication": ">= 0.9",
                **verify["targets"],
            },
        }
    ]

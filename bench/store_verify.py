"""`dock store verify`'s re-hash over 2 GiB of stored objects against `sha256sum` of the same
files in the same run (target ratio at most 0.5: hashlib uses the CPU's SHA instructions).

The objects live in a temporary store that is deleted afterwards. What is timed is
EvidenceStore.verify_objects, the loop `dock store verify` runs per object (its journal rows
are a few per object and do not scale with the bytes).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench._steady import flatten, load_1m, steady
from dock.offload.store import EvidenceStore

MIB = 1024 * 1024
OBJECT_MIB = 64
TOTAL_MIB = 2048


def _fill(store: EvidenceStore) -> list[str]:
    block = os.urandom(OBJECT_MIB * MIB - 8)
    names = []
    for i in range(TOTAL_MIB // OBJECT_MIB):
        data = i.to_bytes(8, "big") + block
        sha256 = hashlib.sha256(data).hexdigest()
        path = store.path_of(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        names.append(sha256)
    return names


def store_verify() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-store-verify-") as tmp:
        store = EvidenceStore(Path(tmp) / "store", reserve_bytes=0)
        names = _fill(store)
        paths = [str(store.path_of(n)) for n in names]

        def ratio() -> float:
            start = time.perf_counter()
            assert store.verify_objects(names) == []
            dock_s = time.perf_counter() - start
            start = time.perf_counter()
            subprocess.run(["sha256sum", *paths], check=True, stdout=subprocess.DEVNULL)
            return dock_s / (time.perf_counter() - start)

        figure = steady(ratio)
    return {
        "name": "store_verify",
        "figures": {
            **flatten("store_verify_vs_sha256sum", figure),
            "objects": len(names),
            "total_mib": TOTAL_MIB,
            "loadavg_1m_at_end": load_1m(),
        },
        "units": {"store_verify_vs_sha256sum": "verify_objects time / sha256sum time, same files"},
        "targets": {"store_verify_vs_sha256sum": "<= 0.5"},
    }


def run() -> list[dict]:
    return [store_verify()]

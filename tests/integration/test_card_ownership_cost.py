"""What the cluster-ownership check costs on a 1 GiB real-layout FAT32 card (32 KiB
clusters): the walk with it against the walk without, beside reading and hashing the data.
Run alone with `-s` to see the figures."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

import pytest

from hw.fat32 import FatImageMassStorage
from hw.mass_storage import EntryKind
from tests import cardgen

READ_BYTES = 1 << 20


def walk_only(volume: FatImageMassStorage, *, check_clusters: bool) -> float:
    started = time.perf_counter()
    for _ in volume.walk(check_clusters=check_clusters):
        pass
    return time.perf_counter() - started


def walk_and_open(volume: FatImageMassStorage, *, check_clusters: bool) -> float:
    """Walk, then open every file (an unchecked walk follows each chain at open)."""
    started = time.perf_counter()
    for entry in volume.walk(check_clusters=check_clusters):
        if entry.kind is EntryKind.FILE:
            volume.open(entry).close()
    volume.late_problems()
    return time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_ownership_check_costs_little_beside_reading_the_card(tmp_path):
    clips = cardgen.shift_clips(
        datetime(2026, 11, 23, 0, 30, tzinfo=UTC), 16, size_bytes=60 << 20, important_every=4
    )
    card = cardgen.make_real_card(tmp_path / "big.img", clips=clips, cluster_bytes=32768)
    assert card.total_bytes >= 1 << 30
    volume = FatImageMassStorage(card.image)
    without = min(walk_and_open(volume, check_clusters=False) for _ in range(3))
    with_check = min(walk_and_open(volume, check_clusters=True) for _ in range(3))
    bare = min(walk_only(volume, check_clusters=False) for _ in range(3))
    checked = min(walk_only(volume, check_clusters=True) for _ in range(3))
    started = time.perf_counter()
    buffer = bytearray(READ_BYTES)
    for entry in volume.walk():
        if entry.kind is EntryKind.FILE:
            digest = hashlib.sha256()
            with volume.open(entry) as f:
                while n := f.readinto(buffer):
                    digest.update(memoryview(buffer)[:n])
            assert digest.hexdigest() == card.by_path()[entry.path].sha256
    read_s = time.perf_counter() - started
    volume.close()
    cost = max(with_check - without, 0.0)
    print(
        f"\nownership check on {card.total_bytes / 2**30:.2f} GiB, {len(card.files)} files: "
        f"walk+open {without * 1000:.1f} ms without, {with_check * 1000:.1f} ms with "
        f"(+{cost * 1000:.1f} ms); walk alone {bare * 1000:.1f} ms without, "
        f"{checked * 1000:.1f} ms with; read+sha256 {read_s:.2f} s (page cache); "
        f"cost {100 * cost / read_s:.2f}% of the read"
    )
    assert cost < 0.05 * read_s
    assert checked - bare < 0.05 * read_s  # even charging every chain step to the check

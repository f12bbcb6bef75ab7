"""Cluster chains as plain data: following one with bounds, runs, extents, a fast reader.

A file on FAT32 or exFAT is a chain of clusters in a cluster heap. These helpers know
nothing of directories or ownership (``hw.cluster_image``): they follow a chain no longer
than needed and never revisiting a cluster, merge consecutive clusters into extents, and
read extents with one ``preadv`` each straight into the caller's buffer, which is what
makes an image read nearly as fast as a plain file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass

from hw.mass_storage import MassStorageError


@dataclass(frozen=True)
class Geometry:
    heap_offset_bytes: int  # where cluster 2 starts in the image
    cluster_bytes: int
    cluster_count: int  # valid clusters are 2 .. cluster_count + 1


@dataclass(frozen=True)
class Extent:
    offset_bytes: int
    length_bytes: int


def follow_chain(
    fat: Sequence[int],
    first: int,
    needed: int,
    geometry: Geometry,
    eoc_min: int,
    what: str,
    mask: int = 0xFFFFFFFF,
) -> list[int]:
    """The first `needed` clusters of the chain at `first`; corrupt chains raise."""
    last_valid = geometry.cluster_count + 1
    chain: list[int] = []
    seen: set[int] = set()
    cluster = first
    while len(chain) < needed:
        if not 2 <= cluster <= last_valid or cluster >= len(fat):
            raise corrupt(what, f"cluster {cluster:#x} is outside the volume")
        if cluster in seen:
            raise corrupt(what, f"cluster chain loops at {cluster:#x}")
        seen.add(cluster)
        chain.append(cluster)
        nxt = fat[cluster] & mask
        if nxt >= eoc_min:
            break
        cluster = nxt
    if len(chain) < needed:
        raise corrupt(what, f"chain ends after {len(chain)} of {needed} clusters")
    return chain


def contiguous_chain(first: int, needed: int, geometry: Geometry, what: str) -> list[int]:
    if needed and not (first >= 2 and first + needed - 1 <= geometry.cluster_count + 1):
        raise corrupt(what, "contiguous extent runs past the end of the volume")
    return list(range(first, first + needed))


def runs_of(chain: list[int]) -> list[tuple[int, int]]:
    """(first cluster, count) for each run of consecutive clusters."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(chain):
        j = i
        while j + 1 < len(chain) and chain[j + 1] == chain[j] + 1:
            j += 1
        out.append((chain[i], j - i + 1))
        i = j + 1
    return out


def extents_of(chain: list[int], size_bytes: int, geometry: Geometry) -> list[Extent]:
    """Merge runs of consecutive clusters, trimmed to size_bytes."""
    out: list[Extent] = []
    left = size_bytes
    cb = geometry.cluster_bytes
    for first, count in runs_of(chain):
        if left <= 0:
            break
        length = min(count * cb, left)
        out.append(Extent(geometry.heap_offset_bytes + (first - 2) * cb, length))
        left -= length
    return out


def corrupt(what: str, why: str) -> MassStorageError:
    return MassStorageError(f"{what}: {why}; the card's file system is corrupt, check it on a PC.")


class ExtentReader(io.RawIOBase):
    """A clip's bytes: its extents, then zeros up to size (exFAT's unwritten tail)."""

    def __init__(self, fd: int, extents: Sequence[Extent], size_bytes: int) -> None:
        self._fd = fd
        self._extents = extents
        self._size = size_bytes
        self._index = 0
        self._within = 0
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._pos < self._size:
            if self._index < len(self._extents):
                ext = self._extents[self._index]
                want = min(len(view) - filled, ext.length_bytes - self._within)
                n = os.preadv(
                    self._fd, [view[filled : filled + want]], ext.offset_bytes + self._within
                )
                if n <= 0:
                    raise MassStorageError(
                        f"image ends at byte {ext.offset_bytes + self._within} inside a file; "
                        "the card image is truncated."
                    )
                self._within += n
                if self._within == ext.length_bytes:
                    self._index += 1
                    self._within = 0
            else:
                n = min(len(view) - filled, self._size - self._pos)
                view[filled : filled + n] = bytes(n)
            filled += n
            self._pos += n
        return filled

"""What FAT32 and exFAT images share: cluster chains, extents, a bounded walk, a fast read.

A file on either is a chain of clusters in a cluster heap. Chains come from the card, so
each is followed with a bound (no longer than the clusters the file needs, never revisiting
one), and a loop or a stray pointer is a ``MassStorageError``. Consecutive clusters are
merged into extents and read with one ``preadv`` each straight into the caller's buffer,
which is what makes an image read nearly as fast as a plain file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hw.mass_storage import (
    DEFAULT_LIMITS,
    Entry,
    EntryKind,
    MassStorageError,
    WalkBudget,
    WalkLimits,
    join_path,
)


@dataclass(frozen=True)
class Geometry:
    heap_offset_bytes: int  # where cluster 2 starts in the image
    cluster_bytes: int
    cluster_count: int  # valid clusters are 2 .. cluster_count + 1


@dataclass(frozen=True)
class Extent:
    offset_bytes: int
    length_bytes: int


@dataclass(frozen=True)
class Node:
    """Where an entry's data lies: first cluster, byte size, and how to follow it."""

    first_cluster: int
    size_bytes: int
    is_contiguous: bool = False  # exFAT NoFatChain: no FAT lookups
    valid_bytes: int | None = None  # exFAT ValidDataLength; bytes after it read as zeros


@dataclass(frozen=True)
class Listed:
    name: str
    raw_name: bytes
    kind: EntryKind
    node: Node


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
            raise _corrupt(what, f"cluster {cluster:#x} is outside the volume")
        if cluster in seen:
            raise _corrupt(what, f"cluster chain loops at {cluster:#x}")
        seen.add(cluster)
        chain.append(cluster)
        nxt = fat[cluster] & mask
        if nxt >= eoc_min:
            break
        cluster = nxt
    if len(chain) < needed:
        raise _corrupt(what, f"chain ends after {len(chain)} of {needed} clusters")
    return chain


def contiguous_chain(first: int, needed: int, geometry: Geometry, what: str) -> list[int]:
    if needed and not (first >= 2 and first + needed - 1 <= geometry.cluster_count + 1):
        raise _corrupt(what, "contiguous extent runs past the end of the volume")
    return list(range(first, first + needed))


def extents_of(chain: list[int], size_bytes: int, geometry: Geometry) -> list[Extent]:
    """Merge runs of consecutive clusters, trimmed to size_bytes."""
    out: list[Extent] = []
    left = size_bytes
    i = 0
    cb = geometry.cluster_bytes
    while i < len(chain) and left > 0:
        j = i
        while j + 1 < len(chain) and chain[j + 1] == chain[j] + 1:
            j += 1
        length = min((j - i + 1) * cb, left)
        out.append(Extent(geometry.heap_offset_bytes + (chain[i] - 2) * cb, length))
        left -= length
        i = j + 1
    return out


def _corrupt(what: str, why: str) -> MassStorageError:
    return MassStorageError(f"{what}: {why}; the card's file system is corrupt, check it on a PC.")


class ExtentReader(io.RawIOBase):
    """A clip's bytes: its extents, then zeros up to size (exFAT's unwritten tail)."""

    def __init__(self, fd: int, extents: list[Extent], size_bytes: int, image_bytes: int) -> None:
        self._fd = fd
        self._extents = extents
        self._size = size_bytes
        self._image_bytes = image_bytes
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


class ClusterImageMassStorage:
    """The walk and read common to FAT32 and exFAT images; subclasses parse the format."""

    geometry: Geometry
    fat: Sequence[int]
    eoc_min: int
    fat_mask: int = 0xFFFFFFFF

    def __init__(self, image: Path | str) -> None:
        self.image = Path(image)
        self._fd = os.open(self.image, os.O_RDONLY | os.O_CLOEXEC)  # never opened writable
        self._image_bytes = os.fstat(self._fd).st_size

    def read_at(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise MassStorageError(f"{self.image.name}: image is truncated; copy the card again.")
        return data

    def chain(self, node: Node, what: str, needed: int | None = None) -> list[int]:
        cb = self.geometry.cluster_bytes
        if needed is None:
            needed = -(-node.size_bytes // cb)
        if needed == 0:
            return []
        if node.is_contiguous:
            return contiguous_chain(node.first_cluster, needed, self.geometry, what)
        return follow_chain(
            self.fat, node.first_cluster, needed, self.geometry, self.eoc_min, what, self.fat_mask
        )

    def read_node(self, node: Node, what: str, limit_bytes: int) -> bytes:
        """A directory's bytes, bounded: hostile directories do not get to be huge."""
        size = min(node.size_bytes, limit_bytes)
        chain = self.chain(Node(node.first_cluster, size, node.is_contiguous), what)
        return b"".join(
            self.read_at(e.offset_bytes, e.length_bytes)
            for e in extents_of(chain, size, self.geometry)
        )

    def list_dir(self, node: Node, path: str, budget: WalkBudget) -> list[Listed]:
        raise NotImplementedError

    def root_node(self) -> Node:
        raise NotImplementedError

    def walk(self, limits: WalkLimits = DEFAULT_LIMITS) -> Iterator[Entry]:
        budget = WalkBudget(limits, f"image {self.image.name}")
        seen_dirs: set[int] = set()
        yield from self._walk(self.root_node(), "", 0, budget, seen_dirs)

    def _walk(
        self, node: Node, prefix: str, depth: int, budget: WalkBudget, seen_dirs: set[int]
    ) -> Iterator[Entry]:
        budget.enter_dir(depth)
        if node.first_cluster in seen_dirs:
            raise _corrupt(f"image {self.image.name}", f"directory {prefix!r} loops back")
        seen_dirs.add(node.first_cluster)
        for item in self.list_dir(node, prefix or "/", budget):
            budget.count_entry()
            path = join_path(prefix, item.name)
            size = item.node.size_bytes if item.kind is EntryKind.FILE else 0
            yield Entry(path, item.raw_name, size, item.kind, depth, locator=item.node)
            if item.kind is EntryKind.DIR:
                yield from self._walk(item.node, path, depth + 1, budget, seen_dirs)

    def open(self, entry: Entry) -> BinaryIO:
        node = entry.locator
        if not isinstance(node, Node) or entry.kind is not EntryKind.FILE:
            raise MassStorageError(f"{entry.path!r} is not a file listed by this image.")
        stored = (
            node.size_bytes if node.valid_bytes is None else min(node.valid_bytes, node.size_bytes)
        )
        chain = self.chain(Node(node.first_cluster, stored, node.is_contiguous), repr(entry.path))
        extents = extents_of(chain, stored, self.geometry)
        for ext in extents:
            if ext.offset_bytes + ext.length_bytes > self._image_bytes:
                raise _corrupt(repr(entry.path), "data lies past the end of the image")
        return ExtentReader(self._fd, extents, node.size_bytes, self._image_bytes)  # type: ignore[return-value]

    def volume_problems(self) -> list[str]:
        return []

    def late_problems(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

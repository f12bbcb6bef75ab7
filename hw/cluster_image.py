"""What FAT32 and exFAT images share: cluster ownership, a bounded walk, reading a file.

A file on either is a chain of clusters in a cluster heap. Chains come from the card, so
each is followed with a bound and checked against the size the directory claims. One
ownership map per walk (a byte per cluster) records which clusters a file or directory has
already claimed: a second claim is a cross-link, flagged on the file found later at once
and on the first owner through ``late_problems()`` once the walk has ended. A directory
that cannot be read (a looping chain, clusters outside the volume or owned by an ancestor)
becomes a BROKEN entry and the walk goes on. A checked walk keeps each file's extents in
its locator, so ``open`` reads them (``hw.cluster_chains``) without following it again.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from hw.cluster_chains import (
    Extent,
    ExtentReader,
    Geometry,
    contiguous_chain,
    corrupt,
    extents_of,
    follow_chain,
    runs_of,
)
from hw.mass_storage import (
    DEFAULT_LIMITS,
    ROOT_PATH,
    Entry,
    EntryKind,
    MassStorageError,
    TooDeep,
    WalkBudget,
    WalkLimits,
    WalkStopped,
    broken,
    budgeted,
    join_path,
)

# Ownership map values: one byte per cluster. CURRENT marks the chain being followed, so a
# chain running into itself is a loop and into anything else a cross-link.
FREE, OWNED, SHARED, CURRENT = 0, 1, 2, 4
_SETTLE = bytes.maketrans(bytes([CURRENT, CURRENT | SHARED]), bytes([OWNED, SHARED]))
CROSS_LINKED = "shares clusters with another file or directory (cross-linked)"
CROSS_LINKED_LATER = (
    "shares clusters with a file or directory found later on the card (cross-linked)"
)


@dataclass(frozen=True)
class Node:
    """Where an entry's data lies: first cluster, byte size, and how to follow it."""

    first_cluster: int
    size_bytes: int
    is_contiguous: bool = False  # exFAT NoFatChain: no FAT lookups
    valid_bytes: int | None = None  # exFAT ValidDataLength; bytes after it read as zeros
    extents: tuple[Extent, ...] | None = None  # set by a checked walk: open() reads these
    unreadable: str | None = None  # set by a checked walk: why open() must refuse


@dataclass(frozen=True)
class Listed:
    """One directory entry as a format parsed it, before the walk checks its chain."""

    name: str
    raw_name: bytes
    kind: EntryKind
    node: Node
    name_encoding: str = ""
    created_utc: datetime | None = None
    modified_utc: datetime | None = None
    is_readonly: bool = False
    problem: str | None = None  # a BROKEN entry's reason (e.g. a broken exFAT entry set)


@dataclass
class Chain:
    clusters: list[int]
    problem: str | None = None  # why it stopped early, or how it ends wrongly
    is_complete: bool = True  # every cluster the size needs was found
    is_shared: bool = False  # it runs through clusters already owned


class ClusterImageMassStorage:
    """The walk and read common to FAT32 and exFAT images; subclasses parse the format."""

    geometry: Geometry
    fat: Sequence[int]
    eoc_min: int
    fat_mask: int = 0xFFFFFFFF
    max_dir_bytes: int

    def __init__(self, image: Path | str) -> None:
        self.image = Path(image)
        self._fd = os.open(self.image, os.O_RDONLY | os.O_CLOEXEC)  # never opened writable
        # lseek, not fstat: a block device (a card in a reader) has st_size 0.
        self._image_bytes = os.lseek(self._fd, 0, os.SEEK_END)
        self._problems: list[str] = []
        self._owned: bytearray | None = None
        self._clean_files: list[tuple[str, Node]] = []
        self._late: dict[str, str] | None = None

    def read_at(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise MassStorageError(f"{self.image.name}: image is truncated; copy the card again.")
        return data

    # -- what a format supplies ---------------------------------------------------------
    def root_node(self) -> Node:
        raise NotImplementedError

    def parse_dir(self, data: bytes, node: Node, path: str) -> list[Listed]:
        raise NotImplementedError

    def dir_needs_clusters(self, node: Node) -> int | None:
        """How many clusters a directory has by its size, or None: follow to end of chain."""
        raise NotImplementedError

    # -- chains ---------------------------------------------------------------------------
    def chain(self, node: Node, what: str, needed: int | None = None) -> list[int]:
        """A chain for an unchecked read: the first `needed` clusters, or a raise."""
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

    def _claim(self, node: Node, needed: int | None, *, check_tail: bool) -> Chain:
        """Follow a chain through the ownership map, marking it; never raises.

        `needed` clusters (or to end of chain when None, bounded by the directory limit);
        with `check_tail`, a chain must end exactly there: more clusters are claimed too
        and make it "longer than its size".
        """
        owned = self._owned
        assert owned is not None
        last_valid = self.geometry.cluster_count + 1
        limit = needed if needed is not None else self.max_dir_bytes // self.geometry.cluster_bytes
        clusters: list[int] = []
        result = Chain(clusters)
        if node.is_contiguous:
            first = node.first_cluster
            count = needed or 0
            if count and not (first >= 2 and first + count - 1 <= last_valid):
                return Chain([], "its contiguous extent runs past the end of the volume", False)
            if count:
                segment = owned[first : first + count]
                result.is_shared = segment.count(FREE) != count
                owned[first : first + count] = segment.translate(_UNCLAIMED_TO_CURRENT)
            result.clusters = list(range(first, first + count))
            self._settle(result.clusters)
            return result
        fat, mask, eoc = self.fat, self.fat_mask, self.eoc_min
        fat_len = len(fat)
        cluster = node.first_cluster
        ended = False
        while len(clusters) < limit:
            if not 2 <= cluster <= last_valid or cluster >= fat_len:
                result.problem = f"cluster chain leaves the volume at {cluster:#x}"
                break
            mark = owned[cluster]
            if mark & CURRENT:
                result.problem = f"cluster chain loops back to cluster {cluster:#x}"
                break
            if mark:
                result.is_shared = True
                owned[cluster] = SHARED | CURRENT
                if not check_tail:  # a directory stops where another owner's clusters begin
                    result.problem = (
                        f"cluster chain runs into clusters already used at {cluster:#x}"
                    )
                    break
            else:
                owned[cluster] = CURRENT
            clusters.append(cluster)
            nxt = fat[cluster] & mask
            if nxt >= eoc:
                ended = True
                break
            cluster = nxt
        if needed is None:
            if not ended and result.problem is None:
                result.problem = (
                    f"directory is longer than {self.max_dir_bytes} bytes; the rest is not read"
                )
        elif len(clusters) < needed:
            result.is_complete = False
            result.problem = (
                f"{result.problem or 'cluster chain ends'} after {len(clusters)} of the "
                f"{needed} clusters its size needs"
            )
        elif not ended and check_tail:
            result.problem = self._claim_tail(cluster, clusters, needed)
        self._settle(clusters)
        return result

    def _claim_tail(self, cluster: int, clusters: list[int], needed: int) -> str:
        """Clusters past what the size needs: claimed (they are this file's), then named."""
        owned = self._owned
        assert owned is not None
        last_valid = self.geometry.cluster_count + 1
        fat, mask, eoc = self.fat, self.fat_mask, self.eoc_min
        cluster = fat[cluster] & mask
        how = f"cluster chain continues past the {needed} clusters its size needs"
        while True:
            if not 2 <= cluster <= last_valid or cluster >= len(fat):
                return f"{how}, then leaves the volume"
            mark = owned[cluster]
            if mark & CURRENT:
                return f"cluster chain loops back after the {needed} clusters its size needs"
            if mark:
                owned[cluster] = SHARED | CURRENT
                clusters.append(cluster)
                return f"{how}, into clusters of another file or directory"
            owned[cluster] = CURRENT
            clusters.append(cluster)
            nxt = fat[cluster] & mask
            if nxt >= eoc:
                return how
            cluster = nxt

    def _settle(self, clusters: list[int]) -> None:
        owned = self._owned
        assert owned is not None
        for first, count in runs_of(clusters):
            owned[first : first + count] = owned[first : first + count].translate(_SETTLE)

    # -- the walk ---------------------------------------------------------------------------
    def walk(
        self, limits: WalkLimits = DEFAULT_LIMITS, *, check_clusters: bool = True
    ) -> Iterator[Entry]:
        """Every entry, depth first. `check_clusters=False` skips the ownership map (benches)."""
        budget = WalkBudget(limits, f"image {self.image.name}")
        if not limits.max_clusters:
            budget.max_clusters = 2 * self.geometry.cluster_count + 65536
        self._owned = bytearray(self.geometry.cluster_count + 2) if check_clusters else None
        self._clean_files = []
        self._late = None
        if self._owned is not None:
            for node in self.system_nodes():  # metadata clusters are owned before any file
                self._claim(
                    node, -(-node.size_bytes // self.geometry.cluster_bytes), check_tail=False
                )
        return budgeted(self._walk_dir(self.root_node(), "", 0, budget, {}, ()), budget)

    def system_nodes(self) -> list[Node]:
        """Clusters the format itself owns outside any directory (exFAT's bitmap, up-case)."""
        return []

    def _read_dir(
        self, node: Node, where: str, ancestors: dict[int, str], budget: WalkBudget
    ) -> tuple[list[Listed], str | None]:
        """A directory's entries and, if only part of it could be read, why."""
        first = node.first_cluster
        if first in ancestors:
            whose = (
                "the root"
                if ancestors[first] == ROOT_PATH
                else f"its ancestor {ancestors[first]!r}"
            )
            return [], f"directory points back at {whose}; not followed"
        needed = self.dir_needs_clusters(node)
        if needed == 0:
            return [], None
        cb = self.geometry.cluster_bytes
        if self._owned is not None:
            if 2 <= first < len(self._owned) and self._owned[first]:
                self._owned[first] = SHARED
                return (
                    [],
                    "directory starts in clusters already used by another file or directory; not followed",
                )
            chain = self._claim(node, needed, check_tail=False)
            clusters, problem = chain.clusters, chain.problem
        else:
            try:
                clusters = self._unchecked_dir_chain(node, needed)
                problem = None
            except MassStorageError as exc:
                return [], str(exc)
        budget.count_clusters(len(clusters))
        if needed is not None and node.size_bytes:
            size = min(node.size_bytes, len(clusters) * cb)
        else:
            size = len(clusters) * cb
        data = b"".join(
            self.read_at(e.offset_bytes, e.length_bytes)
            for e in extents_of(clusters, size, self.geometry)
        )
        return self.parse_dir(data, node, where), problem

    def _unchecked_dir_chain(self, node: Node, needed: int | None) -> list[int]:
        if needed is not None:
            return self.chain(node, "directory", needed)
        chain: list[int] = []
        seen: set[int] = set()
        cluster = node.first_cluster
        limit = self.max_dir_bytes // self.geometry.cluster_bytes
        while True:
            if not 2 <= cluster <= self.geometry.cluster_count + 1 or cluster >= len(self.fat):
                raise MassStorageError(f"directory cluster chain leaves the volume at {cluster:#x}")
            if cluster in seen or len(chain) >= limit:
                raise MassStorageError("directory cluster chain loops or is oversized")
            seen.add(cluster)
            chain.append(cluster)
            nxt = self.fat[cluster] & self.fat_mask
            if nxt >= self.eoc_min:
                return chain
            cluster = nxt

    def _walk_dir(
        self,
        node: Node,
        prefix: str,
        depth: int,
        budget: WalkBudget,
        ancestors: dict[int, str],
        raw_parts: tuple[bytes, ...],
    ) -> Generator[Entry, None, None]:
        where = prefix or ROOT_PATH
        try:
            budget.enter_dir(depth)
            items, problem = self._read_dir(node, where, ancestors, budget)
        except TooDeep as exc:
            yield broken(where, depth, str(exc))
            return
        except WalkStopped:
            raise
        except MassStorageError as exc:
            yield broken(where, depth, str(exc))
            return
        if problem:
            yield broken(where, depth, problem)
        ancestors = {**ancestors, node.first_cluster: where}
        for item in items:
            budget.count_entry()
            path = join_path(prefix, item.name)
            parts = (*raw_parts, item.raw_name)
            if item.kind is EntryKind.BROKEN:
                path = path if item.name else where
                yield Entry(
                    path,
                    item.raw_name,
                    0,
                    EntryKind.BROKEN,
                    depth,
                    raw_path=parts,
                    name_encoding=item.name_encoding,
                    problem=item.problem,
                )
                continue
            node_out, entry_problem = item.node, item.problem
            if item.kind is EntryKind.FILE and self._owned is not None:
                node_out, entry_problem = self._check_file(item.node, path, budget)
            size = item.node.size_bytes if item.kind is EntryKind.FILE else 0
            yield Entry(
                path,
                item.raw_name,
                size,
                item.kind,
                depth,
                locator=node_out,
                raw_path=parts,
                name_encoding=item.name_encoding,
                created_utc=item.created_utc,
                modified_utc=item.modified_utc,
                is_readonly=item.is_readonly,
                problem=entry_problem,
            )
            if item.kind is EntryKind.DIR:
                yield from self._walk_dir(item.node, path, depth + 1, budget, ancestors, parts)

    def _check_file(self, node: Node, path: str, budget: WalkBudget) -> tuple[Node, str | None]:
        """Follow a file's chain once, claim its clusters, and say how it disagrees."""
        cb = self.geometry.cluster_bytes
        needed = -(-node.size_bytes // cb)
        if needed > self.geometry.cluster_count:
            why = "its size is larger than the whole volume"
            return replace(node, unreadable=why), why
        if needed == 0 and node.first_cluster == 0:
            return replace(node, extents=()), None
        if needed == 0:
            # a 0-byte file should own no clusters; one that does may have lost its size
            chain = self._claim(replace(node, size_bytes=cb), 1, check_tail=True)
            budget.count_clusters(len(chain.clusters))
            why = "its size is 0 but it owns a cluster chain"
            if chain.is_shared:
                why += "; " + CROSS_LINKED
            return replace(node, extents=()), why
        chain = self._claim(node, needed, check_tail=not node.is_contiguous)
        budget.count_clusters(len(chain.clusters))
        problems = [p for p in (chain.problem, CROSS_LINKED if chain.is_shared else None) if p]
        problem = "; ".join(problems) or None
        if not chain.is_complete:
            return replace(node, unreadable=problem), problem
        stored = (
            node.size_bytes if node.valid_bytes is None else min(node.valid_bytes, node.size_bytes)
        )
        extents = tuple(extents_of(chain.clusters[:needed], stored, self.geometry))
        checked = replace(node, extents=extents)
        if problem is None:
            self._clean_files.append((path, checked))
        return checked, problem

    def late_problems(self) -> dict[str, str]:
        """First owners of clusters a later file or directory also claimed."""
        if self._late is not None:
            return dict(self._late)
        late: dict[str, str] = {}
        owned = self._owned
        if owned is not None and owned.find(SHARED) != -1:
            cb, heap = self.geometry.cluster_bytes, self.geometry.heap_offset_bytes
            for path, node in self._clean_files:
                for ext in node.extents or ():
                    first = (ext.offset_bytes - heap) // cb + 2
                    count = -(-ext.length_bytes // cb)
                    if owned.count(SHARED, first, first + count):
                        late[path] = CROSS_LINKED_LATER
                        break
        self._late = late
        return dict(late)

    def volume_problems(self) -> list[str]:
        return list(self._problems)

    def open(self, entry: Entry) -> BinaryIO:
        node = entry.locator
        if not isinstance(node, Node) or entry.kind is not EntryKind.FILE:
            raise MassStorageError(f"{entry.path!r} is not a file listed by this image.")
        if node.unreadable is not None:
            raise MassStorageError(
                f"{entry.path!r}: {node.unreadable}; it cannot be read exactly and stays on the card."
            )
        stored = (
            node.size_bytes if node.valid_bytes is None else min(node.valid_bytes, node.size_bytes)
        )
        if node.extents is not None:
            extents = list(node.extents)
        else:
            chain = self.chain(
                Node(node.first_cluster, stored, node.is_contiguous), repr(entry.path)
            )
            extents = extents_of(chain, stored, self.geometry)
        for ext in extents:
            if ext.offset_bytes + ext.length_bytes > self._image_bytes:
                raise corrupt(repr(entry.path), "data lies past the end of the image")
        return ExtentReader(self._fd, extents, node.size_bytes)  # type: ignore[return-value]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


_UNCLAIMED_TO_CURRENT = bytes.maketrans(
    bytes([FREE, OWNED, SHARED]), bytes([CURRENT, SHARED | CURRENT, SHARED | CURRENT])
)

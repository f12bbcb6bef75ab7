"""Deleting exactly one named file from a FAT32 or exFAT card image, or nothing at all.

The simulator is a recorder, and a recorder's delete must remove the clip the dock named and
never a neighbour: `mdel` matches names without regard to case (it took a file's case twin
with it) and a mount changes the volume just by being made. So the few bytes a delete
changes are written here, by hand, after proving they belong to that file alone:

- the file is found by the same bounded reader the dock uses (`hw.fat32`, `hw.exfat`), by
  its exact path; a second file listed under the same path makes the delete refuse;
- its directory entries are found again by raw name bytes, first cluster and size, all three;
- its cluster chain must be clean: as long as its size needs and no longer, inside the
  volume, no loop, every FAT copy agreeing, and no cluster owned by any other file, directory
  or (exFAT) system structure; ownership is counted over the whole volume in one bytearray.
  A volume that cannot be walked whole refuses every delete: a cross-link into the part
  that could not be read could not be excluded.

Then the entries are marked deleted and fsync'd first, the clusters freed and fsync'd after:
a crash in between leaves lost clusters (fsck reclaims them), never a live entry pointing at
free clusters that the next write could hand to another file.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hw.cluster_image import ClusterImageMassStorage, Node
from hw.fat32 import lfn_checksum, short_name_bytes, short_name_text
from hw.mass_storage import Entry, EntryKind, MassStorageError

FAT32_MASK = 0x0FFFFFFF
FAT32_EOC = 0x0FFFFFF8  # 0x0FFFFFF8..F end a chain; 0x0FFFFFF7 is a bad-cluster mark
EXFAT_EOC = 0xFFFFFFFF
MAX_CHAIN_STEPS = 1 << 28  # far above any card's cluster count; the walk stops at a loop anyway
DIR_ENTRY = 32


class DeleteRefused(Exception):
    """The file cannot be deleted without risk to another one; nothing was written."""


@dataclass(frozen=True)
class _Target:
    entry: Entry
    parent: Node
    is_root_parent: bool


def _locate(reader: ClusterImageMassStorage, path: str) -> tuple[_Target, list[Entry]]:
    """The one FILE listed under exactly `path`, and every entry of the walk."""
    entries = list(reader.walk())
    broken = [e for e in entries if e.kind is EntryKind.BROKEN]
    if broken:
        raise DeleteRefused(
            f"part of the card cannot be read ({broken[0].path}): no file is deleted from it"
        )
    dirs = {e.path: e for e in entries if e.kind is EntryKind.DIR}
    found = [e for e in entries if e.kind is EntryKind.FILE and e.path == path]
    if not found:
        raise DeleteRefused(f"no file {path!r} on the card")
    if len(found) > 1:
        raise DeleteRefused(f"{len(found)} files are listed as {path!r}; none is deleted")
    entry = found[0]
    problem = entry.problem or reader.late_problems().get(path)
    if problem:
        raise DeleteRefused(f"{path!r} is not clean on the card ({problem}); kept")
    parent_path = path.rpartition("/")[0]
    if parent_path:
        parent = dirs.get(parent_path)
        if parent is None or not isinstance(parent.locator, Node):
            raise DeleteRefused(f"the folder of {path!r} was not listed; nothing deleted")
        return _Target(entry, parent.locator, False), entries
    return _Target(entry, reader.root_node(), True), entries


def _full_chain(fat, first: int, last_valid: int, mask: int, eoc: int) -> tuple[list[int], bool]:
    """Every cluster from `first` to the end mark, stopping at a loop or a stray pointer.

    Returns (clusters, ended_cleanly)."""
    chain: list[int] = []
    seen: set[int] = set()
    cluster = first
    while len(chain) < MAX_CHAIN_STEPS:
        if not 2 <= cluster <= last_valid or cluster >= len(fat) or cluster in seen:
            return chain, False
        seen.add(cluster)
        chain.append(cluster)
        nxt = fat[cluster] & mask
        if nxt >= eoc:
            return chain, True
        cluster = nxt
    return chain, False


class _Owners:
    """How many files, directories or system structures claim each cluster (capped at 2)."""

    def __init__(self, cluster_count: int) -> None:
        self.counts = bytearray(cluster_count + 2)

    def claim(self, clusters: list[int]) -> None:
        counts = self.counts
        for cluster in clusters:
            if cluster < len(counts) and counts[cluster] < 2:
                counts[cluster] += 1

    def shared(self, clusters: list[int]) -> list[int]:
        return [c for c in clusters if c >= len(self.counts) or self.counts[c] != 1]


def _refuse_unless_clean(
    path: str, chain: list[int], needed: int, ended: bool, has_clusters: int, owners: _Owners
) -> None:
    """A file is deleted only when its chain is exactly its size and no other file shares it:
    freeing a cross-linked or mis-sized chain would damage another file."""
    if has_clusters:
        if not ended or len(chain) != needed:
            raise DeleteRefused(
                f"{path!r}: its cluster chain ({len(chain)} clusters"
                f"{'' if ended else ', not ending'}) does not match its size "
                f"({needed} clusters); kept on the card"
            )
    elif needed:
        raise DeleteRefused(f"{path!r} has a size but no clusters; kept on the card")
    shared = owners.shared(chain)
    if shared:
        raise DeleteRefused(
            f"{path!r} shares cluster {shared[0]:#x} with another file; kept on the card"
        )


class _Image:
    """The image opened for writing, only for the few pwrites of one delete."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self.fd, length, offset)
        if len(data) != length:
            raise DeleteRefused("the card image is truncated; nothing deleted")
        return data

    def write(self, offset: int, data: bytes) -> None:
        if os.pwrite(self.fd, data, offset) != len(data):
            raise OSError(f"short write at byte {offset} of the card image")

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


def _cluster_offset(reader: ClusterImageMassStorage, cluster: int) -> int:
    g = reader.geometry
    return g.heap_offset_bytes + (cluster - 2) * g.cluster_bytes


def _dir_slots(reader: ClusterImageMassStorage, clusters: list[int]) -> Iterator[tuple[int, bytes]]:
    """(image offset, 32 bytes) of every slot of a directory, across cluster boundaries."""
    cb = reader.geometry.cluster_bytes
    for cluster in clusters:
        base = _cluster_offset(reader, cluster)
        data = reader.read_at(base, cb)
        for off in range(0, cb, DIR_ENTRY):
            yield base + off, data[off : off + DIR_ENTRY]


# -- FAT32 ------------------------------------------------------------------------------------


def _fat32_layout(image: _Image) -> tuple[int, list[int], int]:
    """(bytes per sector, byte offset of each FAT copy, FSInfo offset or 0)."""
    boot = image.read(0, 512)
    bps, _spc, reserved, fats = struct.unpack_from("<HBHB", boot, 11)
    fat_sectors = struct.unpack_from("<I", boot, 36)[0]
    fsinfo_sector = struct.unpack_from("<H", boot, 48)[0]
    offsets = [(reserved + i * fat_sectors) * bps for i in range(fats)]
    fsinfo = fsinfo_sector * bps if 0 < fsinfo_sector < reserved else 0
    return bps, offsets, fsinfo


def _fat32_entry_sets(
    reader: ClusterImageMassStorage, dir_clusters: list[int], code_page: str
) -> Iterator[tuple[list[int], bytes, bytes, str, int, int]]:
    """(slot offsets, LFN raw, 8.3 raw, 8.3 as shown, first cluster, size) of each entry."""
    lfn_offsets: list[int] = []
    lfn_parts: dict[int, bytes] = {}
    lfn_sum = -1
    for offset, e in _dir_slots(reader, dir_clusters):
        if e[0] == 0x00:
            return
        if e[0] == 0xE5:
            lfn_offsets, lfn_parts, lfn_sum = [], {}, -1
            continue
        if e[11] & 0x3F == 0x0F:
            if e[0] & 0x40:
                lfn_offsets, lfn_parts, lfn_sum = [], {}, e[13]
            lfn_offsets.append(offset)
            lfn_parts[e[0] & 0x1F] = e[1:11] + e[14:26] + e[28:32]
            continue
        if e[11] & 0x08:  # the volume label
            lfn_offsets, lfn_parts, lfn_sum = [], {}, -1
            continue
        lfn_raw = b""
        offsets = [offset]
        if lfn_parts and lfn_sum == lfn_checksum(e[:11]):
            joined = b"".join(lfn_parts[i] for i in sorted(lfn_parts))
            end = next((i for i in range(0, len(joined), 2) if joined[i : i + 2] == b"\0\0"), None)
            lfn_raw = joined[:end] if end is not None else joined
            offsets = [*lfn_offsets, offset]
        hi, lo, size = struct.unpack_from("<H4xHI", e, 20)
        short = short_name_bytes(e[:11])
        text = short_name_text(e[:11], e[12], code_page)
        yield offsets, lfn_raw, short, text, (hi << 16) | lo, size
        lfn_offsets, lfn_parts, lfn_sum = [], {}, -1


def delete_fat32(image_path: Path, path: str) -> int:
    """Delete the file at exactly `path` from a FAT32 image; returns the clusters freed."""
    from hw.fat32 import FatImageMassStorage

    reader = FatImageMassStorage(image_path)
    try:
        target, entries = _locate(reader, path)
        g = reader.geometry
        last = g.cluster_count + 1
        owners = _Owners(g.cluster_count)
        root_chain, _ = _full_chain(
            reader.fat, reader.root_node().first_cluster, last, FAT32_MASK, FAT32_EOC
        )
        owners.claim(root_chain)
        for e in entries:
            node = e.locator
            if isinstance(node, Node) and node.first_cluster:
                owners.claim(
                    _full_chain(reader.fat, node.first_cluster, last, FAT32_MASK, FAT32_EOC)[0]
                )
        node = target.entry.locator
        assert isinstance(node, Node)
        needed = -(-node.size_bytes // g.cluster_bytes)
        chain: list[int] = []
        ended = True
        if node.first_cluster:
            chain, ended = _full_chain(reader.fat, node.first_cluster, last, FAT32_MASK, FAT32_EOC)
        _refuse_unless_clean(path, chain, needed, ended, node.first_cluster, owners)
        parent = target.parent
        if parent.first_cluster < 2:
            raise DeleteRefused(f"the folder of {path!r} has no clusters; nothing deleted")
        dir_chain, ended = _full_chain(
            reader.fat, parent.first_cluster, last, FAT32_MASK, FAT32_EOC
        )
        if not ended:
            raise DeleteRefused(f"the folder of {path!r} has a broken chain; nothing deleted")
        raw, shown = target.entry.raw_name, path.rpartition("/")[2]
        code_page = getattr(reader, "oem_code_page", "cp936")
        matches = [
            offsets
            for offsets, lfn_raw, short_raw, short_text, first, size in _fat32_entry_sets(
                reader, dir_chain, code_page
            )
            if (raw == lfn_raw if lfn_raw else raw == short_raw and shown == short_text)
            and first == node.first_cluster
            and size == node.size_bytes
        ]
        if len(matches) != 1:
            raise DeleteRefused(
                f"{path!r}: {len(matches)} directory entries match it; nothing deleted"
            )
    finally:
        reader.close()
    _write_fat32(image_path, matches[0], chain, path)
    return len(chain)


def _write_fat32(image_path: Path, slots: list[int], chain: list[int], path: str) -> None:
    image = _Image(image_path)
    try:
        _bps, fat_offsets, fsinfo = _fat32_layout(image)
        old = {
            c: [struct.unpack("<I", image.read(f + 4 * c, 4))[0] for f in fat_offsets]
            for c in chain
        }
        for cluster, values in old.items():
            if len({v & FAT32_MASK for v in values}) != 1:
                raise DeleteRefused(
                    f"{path!r}: the FAT copies disagree at cluster {cluster:#x}; kept on the card"
                )
        for slot in reversed(slots):  # the 8.3 entry first: one byte, and the file is gone
            image.write(slot, b"\xe5")
        image.sync()
        for cluster, values in old.items():
            for fat, value in zip(fat_offsets, values, strict=True):
                image.write(fat + 4 * cluster, struct.pack("<I", value & ~FAT32_MASK & 0xFFFFFFFF))
        if fsinfo and chain:
            info = image.read(fsinfo, 512)
            lead, struc = (
                struct.unpack_from("<I", info, 0)[0],
                struct.unpack_from("<I", info, 484)[0],
            )
            free = struct.unpack_from("<I", info, 488)[0]
            if (lead, struc) == (0x41615252, 0x61417272) and free != 0xFFFFFFFF:
                image.write(fsinfo + 488, struct.pack("<I", free + len(chain)))
        image.sync()
    finally:
        image.close()


# -- exFAT ------------------------------------------------------------------------------------

EXFAT_FILE = 0x85
EXFAT_STREAM = 0xC0
EXFAT_NAME = 0xC1
EXFAT_BITMAP = 0x81
EXFAT_UPCASE = 0x82
NO_FAT_CHAIN = 0x02


@dataclass(frozen=True)
class _ExfatSet:
    slots: list[int]
    raw_name: bytes
    first_cluster: int
    size_bytes: int
    is_contiguous: bool


def _exfat_sets(reader: ClusterImageMassStorage, dir_clusters: list[int]) -> Iterator[_ExfatSet]:
    slots = list(_dir_slots(reader, dir_clusters))
    i = 0
    while i < len(slots):
        kind = slots[i][1][0]
        if kind == 0x00:
            return
        if kind != EXFAT_FILE:
            i += 1
            continue
        count = slots[i][1][1]
        group = slots[i : i + 1 + count]
        i += 1 + count
        if count < 2 or len(group) != 1 + count or group[1][1][0] != EXFAT_STREAM:
            continue  # a broken set is nobody's to delete
        stream = group[1][1]
        name_len = stream[3]
        _valid, first, size = struct.unpack_from("<Q4xIQ", stream, 8)
        raw = b"".join(s[1][2:32] for s in group[2:] if s[1][0] == EXFAT_NAME)[: 2 * name_len]
        yield _ExfatSet([s[0] for s in group], raw, first, size, bool(stream[1] & NO_FAT_CHAIN))


def delete_exfat(image_path: Path, path: str) -> int:
    """Delete the file at exactly `path` from an exFAT image; returns the clusters freed."""
    from hw.exfat import ExfatImageMassStorage

    reader = ExfatImageMassStorage(image_path)
    try:
        boot = reader.read_at(0, 512)
        if boot[110] != 1:
            raise DeleteRefused("the card has two FATs (TexFAT); the simulator deletes from none")
        target, entries = _locate(reader, path)
        g = reader.geometry
        last = g.cluster_count + 1
        owners = _Owners(g.cluster_count)
        root_chain, root_ended = _full_chain(
            reader.fat, reader.root_node().first_cluster, last, 0xFFFFFFFF, EXFAT_EOC
        )
        if not root_ended:
            raise DeleteRefused("the card's root folder has a broken chain; nothing deleted")
        owners.claim(root_chain)
        bitmap_chain: list[int] = []
        for _offset, slot in _dir_slots(reader, root_chain):
            if slot[0] == 0x00:
                break
            if slot[0] in (EXFAT_BITMAP, EXFAT_UPCASE):
                first, length = struct.unpack_from("<IQ", slot, 20)
                clusters = _system_chain(reader, first, -(-length // g.cluster_bytes), last)
                owners.claim(clusters)
                if slot[0] == EXFAT_BITMAP:
                    bitmap_chain = clusters
        if len(bitmap_chain) * g.cluster_bytes * 8 < g.cluster_count:
            raise DeleteRefused("the card's allocation bitmap cannot be read; nothing deleted")
        chains: dict[int, list[int]] = {}
        for e in entries:
            node = e.locator
            if isinstance(node, Node) and node.first_cluster and node.size_bytes:
                chains[id(e)] = _exfat_chain(reader, node, last)
                owners.claim(chains[id(e)])
        node = target.entry.locator
        assert isinstance(node, Node)
        needed = -(-node.size_bytes // g.cluster_bytes)
        chain = chains.get(id(target.entry), [])
        ended = True
        if node.first_cluster and node.size_bytes:
            ended = node.is_contiguous or reader.fat[chain[-1]] == EXFAT_EOC if chain else False
        _refuse_unless_clean(
            path, chain, needed, ended, node.first_cluster and node.size_bytes, owners
        )
        for cluster in chain:
            at = _bitmap_byte(reader, bitmap_chain, cluster)
            if not reader.read_at(at, 1)[0] >> ((cluster - 2) % 8) & 1:
                raise DeleteRefused(
                    f"{path!r}: cluster {cluster:#x} is marked free; kept on the card"
                )
        parent = target.parent
        if target.is_root_parent:
            dir_chain = root_chain
        else:
            dir_chain = _exfat_chain(reader, parent, last)
            if len(dir_chain) != -(-parent.size_bytes // g.cluster_bytes):
                raise DeleteRefused(f"the folder of {path!r} has a broken chain; nothing deleted")
        raw = target.entry.raw_name
        matches = [
            s
            for s in _exfat_sets(reader, dir_chain)
            if s.raw_name == raw
            and s.first_cluster == node.first_cluster
            and s.size_bytes == node.size_bytes
        ]
        if len(matches) != 1:
            raise DeleteRefused(
                f"{path!r}: {len(matches)} directory entries match it; nothing deleted"
            )
        fat_offset = struct.unpack_from("<I", boot, 80)[0] << boot[108]
    finally:
        reader.close()
    image = _Image(image_path)
    try:
        for slot_at in matches[0].slots:
            kind = image.read(slot_at, 1)[0]
            image.write(slot_at, bytes([kind & 0x7F]))  # InUse cleared: the set is deleted
        image.sync()
        for cluster in chain:
            at = _bitmap_byte(reader, bitmap_chain, cluster)
            byte = image.read(at, 1)[0]
            image.write(at, bytes([byte & ~(1 << ((cluster - 2) % 8)) & 0xFF]))
            if not node.is_contiguous:
                image.write(fat_offset + 4 * cluster, b"\0\0\0\0")
        image.sync()
    finally:
        image.close()
    return len(chain)


def _system_chain(reader: ClusterImageMassStorage, first: int, needed: int, last: int) -> list[int]:
    """The bitmap's or up-case table's clusters: by the FAT, or contiguous where it has none."""
    chain, ended = _full_chain(reader.fat, first, last, 0xFFFFFFFF, EXFAT_EOC)
    if ended and len(chain) == needed:
        return chain
    return [c for c in range(first, first + needed) if 2 <= c <= last]


def _bitmap_byte(reader: ClusterImageMassStorage, bitmap_chain: list[int], cluster: int) -> int:
    """The image offset of the allocation-bitmap byte holding `cluster`'s bit."""
    index = (cluster - 2) // 8
    cb = reader.geometry.cluster_bytes
    return _cluster_offset(reader, bitmap_chain[index // cb]) + index % cb


def _exfat_chain(reader: ClusterImageMassStorage, node: Node, last: int) -> list[int]:
    """A file's or folder's clusters: contiguous ones as its size says, else to the end mark."""
    cb = reader.geometry.cluster_bytes
    if node.is_contiguous:
        needed = -(-node.size_bytes // cb)
        return [c for c in range(node.first_cluster, node.first_cluster + needed) if c <= last]
    chain, _ended = _full_chain(reader.fat, node.first_cluster, last, 0xFFFFFFFF, EXFAT_EOC)
    return chain


def delete_exactly(kind: str, image_path: Path, path: str) -> int:
    """Delete `path` from a `kind` ("fat32" or "exfat") image; DeleteRefused leaves it whole."""
    try:
        if kind == "fat32":
            return delete_fat32(image_path, path)
        if kind == "exfat":
            return delete_exfat(image_path, path)
    except MassStorageError as err:
        raise DeleteRefused(f"the card cannot be read ({err}); nothing deleted") from None
    raise ValueError(f"no exact deleter for {kind!r} images")


def free_clusters(kind: str, reader: ClusterImageMassStorage) -> int:
    """Free clusters on the volume: zero FAT entries (FAT32) or clear bitmap bits (exFAT)."""
    g = reader.geometry
    last = g.cluster_count + 1
    if kind == "fat32":  # the FAT says which clusters are free
        return reader.fat[2 : last + 1].count(0)
    root_chain, _ = _full_chain(
        reader.fat, reader.root_node().first_cluster, last, 0xFFFFFFFF, EXFAT_EOC
    )
    for _offset, slot in _dir_slots(reader, root_chain):
        if slot[0] == 0x00:
            break
        if slot[0] == EXFAT_BITMAP:
            first, length = struct.unpack_from("<IQ", slot, 20)
            clusters = _system_chain(reader, first, -(-length // g.cluster_bytes), last)
            data = b"".join(
                reader.read_at(_cluster_offset(reader, c), g.cluster_bytes) for c in clusters
            )
            used = int.from_bytes(data[: -(-g.cluster_count // 8)], "little")
            used &= (1 << g.cluster_count) - 1
            return g.cluster_count - used.bit_count()
    return 0

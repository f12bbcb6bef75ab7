"""FAT32 damage exactly where a real fault would sit, as byte patches on a card image.

`Fat32Layout` parses just enough of an image to find a file's directory entry and FAT
entries. It is independent of `hw/` on purpose: the tests damage cards with it and then read
them with hw/fat32.py, so a reader bug cannot hide itself in the test. `make run` damages
one simulated recorder's card with it, to show a clip quarantined.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FatSlot:
    """A file's or folder's short directory entry and the LFN slots before it."""

    offset: int  # byte offset of the 32-byte short entry in the image
    lfn_offsets: tuple[int, ...]  # LFN slots, in on-disk order (highest ordinal first)
    first_cluster: int
    size_bytes: int
    attr: int


class Fat32Layout:
    def __init__(self, image: Path | str) -> None:
        self.image = Path(image)
        with open(self.image, "rb") as f:
            boot = f.read(512)
        self.bps, self.spc, self.reserved, self.nfats = struct.unpack_from("<HBHB", boot, 11)
        self.fat_sectors, _, _, self.root_cluster, self.fsinfo, self.backup = struct.unpack_from(
            "<IHHIHH", boot, 36
        )
        self.cluster_bytes = self.bps * self.spc
        self.heap = (self.reserved + self.nfats * self.fat_sectors) * self.bps

    def fat_at(self, copy: int = 0) -> int:
        return (self.reserved + copy * self.fat_sectors) * self.bps

    def get_fat(self, cluster: int) -> int:
        with open(self.image, "rb") as f:
            f.seek(self.fat_at() + 4 * cluster)
            return struct.unpack("<I", f.read(4))[0] & 0x0FFFFFFF

    def set_fat(self, cluster: int, value: int, copies: Sequence[int] | None = None) -> None:
        with open(self.image, "r+b") as f:
            for copy in range(self.nfats) if copies is None else copies:
                f.seek(self.fat_at(copy) + 4 * cluster)
                f.write(struct.pack("<I", value))

    def chain(self, first: int) -> list[int]:
        out = []
        cluster = first
        while 2 <= cluster < 0x0FFFFFF7 and cluster not in out:
            out.append(cluster)
            cluster = self.get_fat(cluster)
        return out

    def free_cluster(self) -> int:
        with open(self.image, "rb") as f:
            f.seek(self.fat_at())
            fat = f.read(self.fat_sectors * self.bps)
        for i in range(3, len(fat) // 4):
            if struct.unpack_from("<I", fat, 4 * i)[0] == 0:
                return i
        raise RuntimeError("no free cluster")

    def cluster_offset(self, cluster: int) -> int:
        return self.heap + (cluster - 2) * self.cluster_bytes

    def _slots(self, first: int) -> Iterator[tuple[int, bytes]]:
        with open(self.image, "rb") as f:
            for cluster in self.chain(first):
                f.seek(self.cluster_offset(cluster))
                data = f.read(self.cluster_bytes)
                for i in range(0, len(data), 32):
                    if data[i] == 0:
                        return
                    yield self.cluster_offset(cluster) + i, data[i : i + 32]

    def list_dir(self, first: int) -> dict[str, FatSlot]:
        found: dict[str, FatSlot] = {}
        lfn: list[tuple[int, bytes]] = []
        for offset, e in self._slots(first):
            if e[0] == 0xE5:
                lfn = []
                continue
            if e[11] & 0x3F == 0x0F:
                lfn.append((offset, e))
                continue
            if e[11] & 0x08:
                lfn = []
                continue
            if lfn:
                units = b"".join(s[1:11] + s[14:26] + s[28:32] for _, s in reversed(lfn))
                name = units.decode("utf-16-le", "replace").split("\0")[0]
            else:
                base, ext = e[:8].rstrip(b" "), e[8:11].rstrip(b" ")
                name = (base + (b"." + ext if ext else b"")).decode("latin-1")
            hi, lo, size = struct.unpack_from("<H4xHI", e, 20)
            slot = FatSlot(offset, tuple(o for o, _ in lfn), (hi << 16) | lo, size, e[11])
            found[name] = slot
            found.setdefault(name.upper(), slot)
            lfn = []
        return found

    def locate(self, path: str) -> FatSlot:
        cluster = self.root_cluster
        slot = None
        for part in path.strip("/").split("/"):
            listing = self.list_dir(cluster)
            slot = listing.get(part) or listing.get(part.upper())
            if slot is None:
                raise KeyError(f"{path}: {part!r} not found")
            cluster = slot.first_cluster
        assert slot is not None
        return slot

    def patch(self, offset: int, data: bytes) -> None:
        with open(self.image, "r+b") as f:
            f.seek(offset)
            f.write(data)

    def set_first_cluster(self, path: str, cluster: int) -> None:
        slot = self.locate(path)
        self.patch(slot.offset + 20, struct.pack("<H", cluster >> 16))
        self.patch(slot.offset + 26, struct.pack("<H", cluster & 0xFFFF))

    def set_size(self, path: str, size: int) -> None:
        self.patch(self.locate(path).offset + 28, struct.pack("<I", size))

    def set_short_name(self, path: str, raw11: bytes, nt_flags: int = 0) -> None:
        """Write the 8.3 name bytes as a recorder's firmware would (an LFN, if any, then
        no longer matches its checksum: readers must fall back to these bytes)."""
        assert len(raw11) == 11
        slot = self.locate(path)
        self.patch(slot.offset, raw11)
        self.patch(slot.offset + 12, bytes([nt_flags]))

    def set_long_name(self, path: str, units: str | Sequence[int]) -> None:
        """Rewrite the LFN's UTF-16 units in place (any units, even those mtools refuses)."""
        codes = [ord(c) for c in units] if isinstance(units, str) else list(units)
        slot = self.locate(path)
        capacity = 13 * len(slot.lfn_offsets)
        assert len(codes) <= capacity, f"{path}: LFN has room for {capacity} units"
        padded = codes + ([0] if len(codes) < capacity else [])
        padded += [0xFFFF] * (capacity - len(padded))
        raw = struct.pack(f"<{capacity}H", *padded)
        for n, offset in enumerate(reversed(slot.lfn_offsets)):  # ordinal 1 is stored last
            part = raw[26 * n : 26 * (n + 1)]
            self.patch(offset + 1, part[:10])
            self.patch(offset + 14, part[10:22])
            self.patch(offset + 28, part[22:26])

    def sector(self, number: int) -> bytes:
        with open(self.image, "rb") as f:
            f.seek(number * self.bps)
            return f.read(self.bps)


# FAT32 damage, each as a real fault would leave the card ------------------------------------
def loop_fat32_directory(image: Path, path: str) -> None:
    """The directory's last cluster points back to its first: a chain with no end."""
    layout = Fat32Layout(image)
    first = layout.locate(path).first_cluster if path.strip("/") else layout.root_cluster
    layout.set_fat(layout.chain(first)[-1], first)


def point_fat32_directory_at(image: Path, path: str, target: str) -> None:
    """The directory entry's first cluster is another directory's (target '' = the root)."""
    layout = Fat32Layout(image)
    cluster = layout.locate(target).first_cluster if target.strip("/") else layout.root_cluster
    layout.set_first_cluster(path, cluster)


def cross_link_fat32(image: Path, first_owner: str, second: str) -> None:
    """`second`'s entry points at `first_owner`'s clusters (their sizes should match)."""
    layout = Fat32Layout(image)
    layout.set_first_cluster(second, layout.locate(first_owner).first_cluster)


def lengthen_fat32_chain(image: Path, path: str, extra: int = 1) -> None:
    """The chain goes on past the clusters the size needs, into free clusters."""
    layout = Fat32Layout(image)
    last = layout.chain(layout.locate(path).first_cluster)[-1]
    for _ in range(extra):
        nxt = layout.free_cluster()
        layout.set_fat(nxt, 0x0FFFFFFF)
        layout.set_fat(last, nxt)
        last = nxt


def shorten_fat32_chain(image: Path, path: str, keep: int) -> None:
    layout = Fat32Layout(image)
    chain = layout.chain(layout.locate(path).first_cluster)
    layout.set_fat(chain[keep - 1], 0x0FFFFFFF)


def loop_fat32_chain_after_size(image: Path, path: str) -> None:
    """The file's last needed cluster points back to its first instead of ending."""
    layout = Fat32Layout(image)
    chain = layout.chain(layout.locate(path).first_cluster)
    layout.set_fat(chain[-1], chain[0])


def damage_fat32_backup_boot_sector(image: Path, offset: int = 13) -> None:
    """Change a BPB field (default BPB_SecPerClus) in the backup boot sector only."""
    layout = Fat32Layout(image)
    at = layout.backup * layout.bps + offset
    current = layout.sector(layout.backup)[offset]
    layout.patch(at, bytes([(current << 1) & 0xFF or 1]))


def set_fat32_fsinfo_free(image: Path, free_clusters: int) -> None:
    layout = Fat32Layout(image)
    layout.patch(layout.fsinfo * layout.bps + 488, struct.pack("<I", free_clusters))


def damage_second_fat(image: Path, cluster: int, value: int) -> None:
    Fat32Layout(image).set_fat(cluster, value, copies=[1])

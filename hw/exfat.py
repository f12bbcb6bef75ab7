"""An exFAT card image read without a kernel mount or root: a small read-only reader.

Recorders with cards over 32 GB use exFAT. The format (Microsoft's public specification)
needs little to read: the boot sector gives the FAT and cluster heap; a directory is a run
of 32-byte entries where a File entry (0x85) is followed by a Stream Extension (0xC0: first
cluster, sizes, NoFatChain flag for contiguous files) and File Name entries (0xC1, UTF-16),
the whole set covered by a checksum. A set that does not add up is a BROKEN entry, and the
rest of the directory is still read. Times carry their own UTC offset when its valid bit is
set. Everything read from the card is bounded (``hw.cluster_image``); nothing is written.
"""

from __future__ import annotations

import struct
from array import array
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hw.cluster_image import ClusterImageMassStorage, Geometry, Listed, Node
from hw.fat32 import fat_time  # exFAT keeps FAT's date and time layout
from hw.mass_storage import EntryKind, MassStorageError

ENTRY_FILE = 0x85
ENTRY_STREAM = 0xC0
ENTRY_NAME = 0xC1
ENTRY_LABEL = 0x83
ENTRY_BITMAP = 0x81
ENTRY_UPCASE = 0x82
ATTR_READ_ONLY = 0x01
ATTR_DIRECTORY = 0x10
FLAG_NO_FAT_CHAIN = 0x02
EXFAT_EOC_MIN = 0xFFFFFFF7  # bad-cluster mark and end-of-chain both stop a chain
MAX_DIR_BYTES = 64 << 20  # 2M entries: far beyond any recorder, well inside memory
MAX_FAT_BYTES = 256 << 20  # a 2 TB card at 32 KiB clusters needs 256 MiB of FAT
BOOT_REGION_SECTORS = 12  # boot sector, 8 extended, OEM parameters, reserved, checksum
UNCHECKED_BOOT_BYTES = (106, 107, 112)  # VolumeFlags and PercentInUse change in use


def set_checksum(entries: bytes) -> int:
    """The entry set checksum: every byte of the set but the checksum field itself."""
    total = 0
    for i, b in enumerate(entries):
        if i in (2, 3):
            continue
        total = ((((total & 1) << 15) | (total >> 1)) + b) & 0xFFFF
    return total


def boot_checksum(region: bytes) -> int:
    total = 0
    for i, b in enumerate(region):
        if i in UNCHECKED_BOOT_BYTES:
            continue
        total = ((((total & 1) << 31) | (total >> 1)) + b) & 0xFFFFFFFF
    return total


def exfat_time(stamp: int, centis: int, offset: int, default: timezone) -> datetime | None:
    """An exFAT timestamp as aware UTC: its own UTC offset if valid, else the card's zone."""
    if offset & 0x80:
        quarters = offset & 0x7F
        quarters -= 128 if quarters >= 64 else 0
        zone = timezone(timedelta(minutes=15 * quarters))
    else:
        zone = default
    return fat_time(stamp >> 16, stamp & 0xFFFF, centis, zone)


class ExfatImageMassStorage(ClusterImageMassStorage):
    eoc_min = EXFAT_EOC_MIN
    max_dir_bytes = MAX_DIR_BYTES

    def __init__(self, image: Path | str, *, card_utc_offset_min: int = 480) -> None:
        super().__init__(image)
        self.card_utc_offset_min = card_utc_offset_min
        self._zone = timezone(timedelta(minutes=card_utc_offset_min))
        try:
            self._parse_boot_sector()
        except MassStorageError:
            self.close()
            raise
        self._label: str | None = None

    def _bad(self, why: str) -> MassStorageError:
        return MassStorageError(
            f"{self.image.name}: {why}; not a readable exFAT card, check it on a PC."
        )

    def _parse_boot_sector(self) -> None:
        boot = self.read_at(0, 512) if self._image_bytes >= 512 else b""
        if len(boot) < 512 or boot[3:11] != b"EXFAT   " or boot[510:512] != b"\x55\xaa":
            raise self._bad("no exFAT boot sector")
        fat_offset, fat_length, heap_offset, cluster_count, root_cluster = struct.unpack_from(
            "<IIIII", boot, 80
        )
        bps_shift, spc_shift = boot[108], boot[109]
        if not 9 <= bps_shift <= 12 or bps_shift + spc_shift > 25:
            raise self._bad("impossible sector or cluster size")
        bps = 1 << bps_shift
        fat_bytes = min(fat_length * bps, (cluster_count + 2) * 4)
        if fat_bytes > MAX_FAT_BYTES or fat_offset * bps + fat_bytes > self._image_bytes:
            raise self._bad("FAT lies outside the image")
        self.geometry = Geometry(heap_offset * bps, 1 << (bps_shift + spc_shift), cluster_count)
        fat = array("I")
        fat.frombytes(self.read_at(fat_offset * bps, fat_bytes - fat_bytes % 4))
        self.fat = fat
        self._root_cluster = root_cluster
        self.volume_serial = struct.unpack_from("<I", boot, 100)[0]
        self._problems = self._check_volume(boot, bps)

    def _check_volume(self, boot: bytes, bps: int) -> list[str]:
        problems: list[str] = []
        percent = boot[112]
        if percent != 0xFF and percent > 100:
            problems.append(f"boot sector says {percent}% in use; the free space is not trusted.")
        region = BOOT_REGION_SECTORS * bps
        if 2 * region > self._image_bytes:
            return [*problems, "the image ends inside the boot regions; the card is truncated."]
        main = self.read_at(0, region)
        backup = self.read_at(region, region)
        stored = struct.unpack_from("<I", main, 11 * bps)[0]
        if boot_checksum(main[: 11 * bps]) != stored:
            problems.append("the main boot region fails its checksum; it is used anyway.")
        masked_main, masked_backup = bytearray(main), bytearray(backup)
        for i in UNCHECKED_BOOT_BYTES:
            masked_main[i] = masked_backup[i] = 0
        if masked_main != masked_backup:
            sector = next(i for i in range(region) if masked_main[i] != masked_backup[i]) // bps
            problems.append(
                f"the backup boot region (sector {BOOT_REGION_SECTORS}) disagrees with the main "
                f"one (first in sector {sector}); the main one is used."
            )
        return problems

    def root_node(self) -> Node:
        return Node(self._root_cluster, 0)

    def dir_needs_clusters(self, node: Node) -> int | None:
        if node.first_cluster == self._root_cluster and node.size_bytes == 0:
            return None  # the root has no size: follow its chain to the end
        if node.size_bytes > MAX_DIR_BYTES:
            raise MassStorageError(f"directory claims {node.size_bytes} bytes; not read")
        return -(-node.size_bytes // self.geometry.cluster_bytes)

    def system_nodes(self) -> list[Node]:
        """The allocation bitmap and up-case table, listed in the root directory."""
        try:
            chain = self._unchecked_dir_chain(self.root_node(), None)
        except MassStorageError:
            return []  # the walk reports the root itself
        cb, heap = self.geometry.cluster_bytes, self.geometry.heap_offset_bytes
        nodes = []
        for cluster in chain:
            data = self.read_at(heap + (cluster - 2) * cb, cb)
            for i in range(0, cb, 32):
                if data[i] in (ENTRY_BITMAP, ENTRY_UPCASE):
                    first, size = struct.unpack_from("<IQ", data, i + 20)
                    if size <= MAX_FAT_BYTES:
                        nodes.append(Node(first, size))
        return nodes

    def volume_label(self) -> str:
        if self._label is None:
            self._label = ""
            try:
                chain = self._unchecked_dir_chain(self.root_node(), None)
                cb = self.geometry.cluster_bytes
                heap = self.geometry.heap_offset_bytes
                self.parse_dir(
                    b"".join(self.read_at(heap + (c - 2) * cb, cb) for c in chain),
                    self.root_node(),
                    "/",
                )
            except MassStorageError:
                pass
        return self._label or ""

    def parse_dir(self, data: bytes, node: Node, path: str) -> list[Listed]:
        out: list[Listed] = []
        i = 0
        while i + 32 <= len(data):
            kind = data[i]
            if kind == 0x00:
                break
            if kind == ENTRY_LABEL and node.first_cluster == self._root_cluster:
                count = min(data[i + 1], 11)
                self._label = data[i + 2 : i + 2 + 2 * count].decode("utf-16-le", "replace")
            if kind != ENTRY_FILE:
                i += 32
                continue
            item, why = self._entry_set(data, i)
            if item is None:
                out.append(
                    Listed(
                        "",
                        b"",
                        EntryKind.BROKEN,
                        Node(0, 0),
                        problem=f"broken entry set at byte {i} of the directory: {why}",
                    )
                )
                i += 32  # the next entry may start a good set
                continue
            out.append(item)
            i += 32 * (1 + data[i + 1])
        return out

    def _entry_set(self, data: bytes, i: int) -> tuple[Listed | None, str]:
        secondary = data[i + 1]
        end = i + 32 * (1 + secondary)
        if secondary < 2 or end > len(data):
            return None, f"{secondary} secondary entries do not fit"
        s = i + 32
        if data[s] != ENTRY_STREAM:
            return None, "no stream extension after the file entry"
        flags, name_len = data[s + 1], data[s + 3]
        if name_len == 0 or 2 + -(-name_len // 15) > secondary + 1:
            return None, f"a name of {name_len} characters does not fit its entries"
        names = range(s + 32, s + 32 * (1 + -(-name_len // 15)), 32)
        if any(data[j] != ENTRY_NAME for j in names):
            return None, "a file name entry is missing"
        stored_sum = struct.unpack_from("<H", data, i + 2)[0]
        if set_checksum(data[i:end]) != stored_sum:
            return None, "its checksum does not match"
        attributes = struct.unpack_from("<H", data, i + 4)[0]
        created, modified = struct.unpack_from("<II", data, i + 8)
        c10, m10, c_off, m_off = data[i + 20], data[i + 21], data[i + 22], data[i + 23]
        valid_bytes, first_cluster, size = struct.unpack_from("<Q4xIQ", data, s + 8)
        raw = b"".join(data[j + 2 : j + 32] for j in names)[: 2 * name_len]
        is_contiguous = bool(flags & FLAG_NO_FAT_CHAIN)
        is_dir = bool(attributes & ATTR_DIRECTORY)
        if is_dir:
            item_node = Node(first_cluster, size, is_contiguous)
        else:
            item_node = Node(first_cluster, size, is_contiguous, valid_bytes)
        return Listed(
            raw.decode("utf-16-le", "surrogatepass"),
            raw,
            EntryKind.DIR if is_dir else EntryKind.FILE,
            item_node,
            name_encoding="utf-16le",
            created_utc=exfat_time(created, c10, c_off, self._zone),
            modified_utc=exfat_time(modified, m10, m_off, self._zone),
            is_readonly=bool(attributes & ATTR_READ_ONLY),
        ), ""

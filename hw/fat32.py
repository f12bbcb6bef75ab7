"""A FAT32 card image read without a kernel mount, read-only.

The boot sector, FAT and directories are parsed here (Microsoft's FAT specification): the
FAT loads as one ``array`` of 32-bit entries in one read, and every chain and directory is
followed with bounds and checked through the walk's ownership map (``hw.cluster_image``).
Names: a long name (LFN, UTF-16) is used only when its slots are in sequence and their
checksum matches the short entry; otherwise the 8.3 name is decoded with the recorder's OEM
code page (Chinese recorders write CP936/GBK), its raw bytes kept. Times are local on FAT:
they are read in the zone the caller names and returned as aware UTC.
"""

from __future__ import annotations

import struct
from array import array
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hw.cluster_image import ClusterImageMassStorage, Geometry, Listed, Node
from hw.mass_storage import EntryKind, MassStorageError

ATTR_READ_ONLY = 0x01
ATTR_VOLUME_ID = 0x08
ATTR_DIRECTORY = 0x10
ATTR_LONG_NAME = 0x0F
MAX_DIR_BYTES = 65536 * 32  # the FAT spec's limit on entries per directory
FAT32_EOC_MIN = 0x0FFFFFF7  # bad-cluster mark and end-of-chain both stop a chain
FAT32_MASK = 0x0FFFFFFF  # the top 4 bits of an entry are reserved
FAT32_MIN_CLUSTERS = 65525
MAX_FAT_BYTES = 256 << 20  # a 2 TB card at 32 KiB clusters
MAX_FAT_COMPARE_BYTES = 64 << 20  # comparing FAT copies is cheap only up to here
FSINFO_LEAD, FSINFO_STRUCT = 0x41615252, 0x61417272
FREE_UNKNOWN = 0xFFFFFFFF

# (name, offset, struct format) of the BPB fields a reader depends on
BPB_FIELDS = (
    ("BPB_BytsPerSec", 11, "<H"),
    ("BPB_SecPerClus", 13, "<B"),
    ("BPB_RsvdSecCnt", 14, "<H"),
    ("BPB_NumFATs", 16, "<B"),
    ("BPB_RootEntCnt", 17, "<H"),
    ("BPB_TotSec16", 19, "<H"),
    ("BPB_FATSz16", 22, "<H"),
    ("BPB_TotSec32", 32, "<I"),
    ("BPB_FATSz32", 36, "<I"),
    ("BPB_ExtFlags", 40, "<H"),
    ("BPB_RootClus", 44, "<I"),
    ("BPB_FSInfo", 48, "<H"),
    ("BPB_BkBootSec", 50, "<H"),
)


def bpb_fields(boot: bytes) -> dict[str, int]:
    return {name: struct.unpack_from(fmt, boot, off)[0] for name, off, fmt in BPB_FIELDS}


def lfn_checksum(short_name: bytes) -> int:
    total = 0
    for b in short_name:
        total = (((total & 1) << 7) + (total >> 1) + b) & 0xFF
    return total


def short_name_bytes(raw11: bytes) -> bytes:
    """The 8.3 name as stored, dotted, first byte 0x05 standing for 0xE5."""
    base = raw11[:8].rstrip(b" ")
    ext = raw11[8:11].rstrip(b" ")
    if base[:1] == b"\x05":
        base = b"\xe5" + base[1:]
    return base + b"." + ext if ext else base


def _ascii_lower(text: str) -> str:
    """Lowercase A-Z only: the NT case flags never touch a double-byte character."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def short_name_text(raw11: bytes, nt_flags: int, code_page: str) -> str:
    base = short_name_bytes(raw11[:8] + b"   ")
    ext = raw11[8:11].rstrip(b" ")
    base_text = base.decode(code_page, "surrogateescape")
    ext_text = ext.decode(code_page, "surrogateescape")
    if nt_flags & 0x08:
        base_text = _ascii_lower(base_text)
    if nt_flags & 0x10:
        ext_text = _ascii_lower(ext_text)
    return base_text + "." + ext_text if ext_text else base_text


def _lfn_units(parts: dict[int, bytes]) -> bytes:
    raw = b"".join(parts[i] for i in sorted(parts))
    for i in range(0, len(raw), 2):
        if raw[i : i + 2] == b"\0\0":
            return raw[:i]
    return raw


def fat_time(date: int, time: int, centis: int, zone: timezone) -> datetime | None:
    """A FAT date and time (local, in `zone`) as aware UTC; None if it is not a date."""
    try:
        local = datetime(
            1980 + (date >> 9),
            (date >> 5) & 0x0F,
            date & 0x1F,
            time >> 11,
            (time >> 5) & 0x3F,
            min((time & 0x1F) * 2, 59),
            tzinfo=zone,
        )
    except ValueError:
        return None
    return (local + timedelta(milliseconds=10 * min(centis, 199))).astimezone(UTC)


class FatImageMassStorage(ClusterImageMassStorage):
    """A FAT32 image (a card dump, or a test's mkfs.vfat image) as a MassStorage."""

    eoc_min = FAT32_EOC_MIN
    fat_mask = FAT32_MASK
    max_dir_bytes = MAX_DIR_BYTES

    def __init__(
        self, image: Path | str, *, oem_code_page: str = "cp936", card_utc_offset_min: int = 480
    ) -> None:
        super().__init__(image)
        self.oem_code_page = oem_code_page
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
            f"{self.image.name}: {why}; not a readable FAT32 card, check it on a PC."
        )

    def _parse_boot_sector(self) -> None:
        if self._image_bytes < 512:
            raise self._bad("no boot sector")
        boot = self.read_at(0, 512)
        b = bpb_fields(boot)
        bps, spc = b["BPB_BytsPerSec"], b["BPB_SecPerClus"]
        if boot[510:512] != b"\x55\xaa" or bps not in (512, 1024, 2048, 4096):
            raise self._bad("no FAT boot sector")
        if spc == 0 or spc & (spc - 1) or b["BPB_RsvdSecCnt"] == 0 or b["BPB_NumFATs"] == 0:
            raise self._bad("impossible cluster size, reserved area or FAT count")
        if b["BPB_FATSz16"] or b["BPB_RootEntCnt"] or not b["BPB_FATSz32"]:
            raise self._bad("FAT12 or FAT16, not FAT32; unsupported card")
        total = b["BPB_TotSec32"] or b["BPB_TotSec16"]
        first_data = b["BPB_RsvdSecCnt"] + b["BPB_NumFATs"] * b["BPB_FATSz32"]
        clusters = (total - first_data) // spc if total > first_data else 0
        if clusters < FAT32_MIN_CLUSTERS:
            raise self._bad(f"{clusters} clusters, too few for FAT32; unsupported card")
        self.geometry = Geometry(first_data * bps, spc * bps, clusters)
        self.bpb = b
        active = b["BPB_ExtFlags"] & 0x0F if b["BPB_ExtFlags"] & 0x80 else 0
        fat_at = (b["BPB_RsvdSecCnt"] + active * b["BPB_FATSz32"]) * bps
        self._fat_array = self._load_fat(fat_at, b["BPB_FATSz32"] * bps)
        self.fat = self._fat_array
        self._root_cluster = b["BPB_RootClus"]
        self._boot_label = boot[71:82].rstrip(b" ").decode("ascii", "replace")
        self._problems = self._check_volume(boot)

    def _load_fat(self, offset_bytes: int, fat_bytes: int) -> array:
        fat_bytes = min(fat_bytes, (self.geometry.cluster_count + 2) * 4)
        if fat_bytes > MAX_FAT_BYTES or offset_bytes + fat_bytes > self._image_bytes:
            raise self._bad("FAT lies outside the image")
        fat = array("I")
        fat.frombytes(self.read_at(offset_bytes, fat_bytes - fat_bytes % 4))
        return fat

    # -- what an examiner would notice before reading a single file ------------------------
    def _check_volume(self, boot: bytes) -> list[str]:
        problems: list[str] = []
        bps = self.bpb["BPB_BytsPerSec"]
        backup_at = self.bpb["BPB_BkBootSec"]
        if backup_at not in (0, 0xFFFF) and (backup_at + 1) * bps <= self._image_bytes:
            backup = self.read_at(backup_at * bps, 512)
            if backup[510:512] != b"\x55\xaa":
                problems.append(
                    f"backup boot sector (sector {backup_at}) is missing; the primary is used."
                )
            else:
                theirs = bpb_fields(backup)
                differ = [k for k, v in self.bpb.items() if theirs[k] != v]
                if differ:
                    problems.append(
                        f"backup boot sector (sector {backup_at}) disagrees with the primary on "
                        f"{', '.join(differ)}; the primary is used."
                    )
        info_at = self.bpb["BPB_FSInfo"]
        if info_at not in (0, 0xFFFF) and (info_at + 1) * bps <= self._image_bytes:
            info = self.read_at(info_at * bps, 512)
            lead, sig, free = (
                struct.unpack_from("<I", info, 0)[0],
                *struct.unpack_from("<II", info, 484),
            )
            is_valid = lead == FSINFO_LEAD and sig == FSINFO_STRUCT
            if is_valid and free != FREE_UNKNOWN and free > self.geometry.cluster_count:
                problems.append(
                    f"FSInfo claims {free} free clusters on a volume of "
                    f"{self.geometry.cluster_count}; the free count is not trusted."
                )
        problems.extend(self._compare_fat_copies())
        return problems

    def _compare_fat_copies(self) -> list[str]:
        b = self.bpb
        if b["BPB_NumFATs"] < 2 or b["BPB_ExtFlags"] & 0x80:
            return []  # one FAT, or mirroring off: the copies may differ by design
        loaded = memoryview(self._fat_array).cast("B")
        if len(loaded) > MAX_FAT_COMPARE_BYTES:
            return []
        bps = b["BPB_BytsPerSec"]
        second_at = (b["BPB_RsvdSecCnt"] + b["BPB_FATSz32"]) * bps
        if second_at + len(loaded) > self._image_bytes:
            return ["the second FAT copy lies outside the image; the first is used."]
        chunk = 1 << 20
        for start in range(8, len(loaded), chunk):  # entries 0 and 1 hold media and dirty flags
            end = min(start + chunk, len(loaded))
            theirs = self.read_at(second_at + start, end - start)
            if theirs != loaded[start:end]:
                at = next(i for i in range(end - start) if theirs[i] != loaded[start + i])
                return [
                    f"the two FAT copies disagree (first at cluster {(start + at) // 4:#x}); "
                    "the first is used."
                ]
        return []

    # -- directories --------------------------------------------------------------------------
    def root_node(self) -> Node:
        return Node(self._root_cluster, 0)

    def dir_needs_clusters(self, node: Node) -> int | None:
        return None  # FAT directories have no size: follow to end of chain

    def volume_label(self) -> str:
        if self._label is None:
            self._label = ""
            try:
                chain = self._unchecked_dir_chain(self.root_node(), None)
                cb = self.geometry.cluster_bytes
                heap = self.geometry.heap_offset_bytes
                data = b"".join(self.read_at(heap + (c - 2) * cb, cb) for c in chain)
                self.parse_dir(data, self.root_node(), "/")
            except MassStorageError:
                pass
        label = self._label or self._boot_label
        return "" if label == "NO NAME" else label

    def parse_dir(self, data: bytes, node: Node, path: str) -> list[Listed]:
        out: list[Listed] = []
        lfn: dict[int, bytes] = {}
        lfn_sum = -1
        lfn_next = 0  # the ordinal the next LFN slot must carry; 0: none expected
        for off in range(0, len(data) - 31, 32):
            e = data[off : off + 32]
            first = e[0]
            if first == 0x00:
                break
            attr = e[11]
            if first == 0xE5:
                lfn, lfn_sum, lfn_next = {}, -1, 0
                continue
            if attr & 0x3F == ATTR_LONG_NAME:
                ordinal = first & 0x1F
                if first & 0x40:
                    lfn, lfn_sum, lfn_next = {}, e[13], ordinal
                if ordinal == 0 or ordinal != lfn_next or e[13] != lfn_sum:
                    lfn, lfn_sum, lfn_next = {}, -1, 0  # out of sequence: fall back to 8.3
                    continue
                lfn[ordinal] = e[1:11] + e[14:26] + e[28:32]
                lfn_next = ordinal - 1
                continue
            has_lfn = bool(lfn) and lfn_next == 0 and lfn_sum == lfn_checksum(e[:11])
            parts, lfn, lfn_sum, lfn_next = lfn, {}, -1, 0
            if attr & ATTR_VOLUME_ID:
                if node.first_cluster == self._root_cluster and not self._label:
                    self._label = e[:11].rstrip(b" ").decode("ascii", "replace")
                continue
            is_dir = bool(attr & ATTR_DIRECTORY)
            if has_lfn:
                raw = _lfn_units(parts)
                name = raw.decode("utf-16-le", "surrogatepass")
                encoding = "utf-16le"
            else:
                raw = short_name_bytes(e[:11])
                if is_dir and raw in (b".", b".."):
                    continue  # the directory's own links, not entries
                name = short_name_text(e[:11], e[12], self.oem_code_page)
                encoding = self.oem_code_page
            tenth, ctime, cdate, hi, wtime, wdate, lo, size = struct.unpack_from(
                "<BHH2xHHHHI", e, 13
            )
            item_node = Node((hi << 16) | lo, 0 if is_dir else size)
            out.append(
                Listed(
                    name,
                    raw,
                    EntryKind.DIR if is_dir else EntryKind.FILE,
                    item_node,
                    name_encoding=encoding,
                    created_utc=fat_time(cdate, ctime, tenth, self._zone),
                    modified_utc=fat_time(wdate, wtime, 0, self._zone),
                    is_readonly=bool(attr & ATTR_READ_ONLY),
                )
            )
        return out

"""An exFAT card image read without a kernel mount or root: a small read-only reader.

Recorders with cards over 32 GB use exFAT. The format (Microsoft's public specification)
needs little to read: the boot sector gives the FAT and cluster heap; a directory is a run
of 32-byte entries where a File entry (0x85) is followed by a Stream Extension (0xC0: first
cluster, sizes, NoFatChain flag for contiguous files) and File Name entries (0xC1, UTF-16).
Everything read from the card is bounded (``hw.cluster_image``); nothing is ever written.
"""

from __future__ import annotations

import struct
from array import array
from pathlib import Path

from hw.cluster_image import ClusterImageMassStorage, Geometry, Listed, Node
from hw.mass_storage import EntryKind, MassStorageError, WalkBudget

ENTRY_FILE = 0x85
ENTRY_STREAM = 0xC0
ENTRY_NAME = 0xC1
ENTRY_LABEL = 0x83
ATTR_DIRECTORY = 0x10
FLAG_NO_FAT_CHAIN = 0x02
EXFAT_EOC_MIN = 0xFFFFFFF7  # bad-cluster mark and end-of-chain both stop a chain
MAX_DIR_BYTES = 256 << 20  # the spec's limit on a directory's size
MAX_FAT_BYTES = 256 << 20  # a 2 TB card at 32 KiB clusters needs 256 MiB of FAT


class ExfatImageMassStorage(ClusterImageMassStorage):
    eoc_min = EXFAT_EOC_MIN

    def __init__(self, image: Path | str, *, card_utc_offset_min: int = 480) -> None:
        super().__init__(image)
        self.card_utc_offset_min = card_utc_offset_min
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

    def root_node(self) -> Node:
        return Node(self._root_cluster, 0)

    def volume_label(self) -> str:
        if self._label is None:
            self.list_dir(self.root_node(), "/", None)
        return self._label or ""

    def _dir_bytes(self, node: Node, path: str) -> bytes:
        what = f"{self.image.name}: directory {path!r}"
        if node.first_cluster != self._root_cluster:  # a subdirectory knows its size
            if node.size_bytes > MAX_DIR_BYTES:
                raise self._bad(f"directory {path!r} claims {node.size_bytes} bytes")
            return self.read_node(node, what, MAX_DIR_BYTES) if node.size_bytes else b""
        cb = self.geometry.cluster_bytes
        chain: list[int] = []
        cluster = node.first_cluster
        while True:  # the root directory: follow to end of chain, bounded
            if not 2 <= cluster <= self.geometry.cluster_count + 1 or cluster >= len(self.fat):
                raise self._bad(f"root directory points outside the volume at {cluster:#x}")
            if cluster in chain or len(chain) * cb >= MAX_DIR_BYTES:
                raise self._bad("root directory cluster chain loops")
            chain.append(cluster)
            if self.fat[cluster] >= EXFAT_EOC_MIN:
                break
            cluster = self.fat[cluster]
        heap, cb = self.geometry.heap_offset_bytes, self.geometry.cluster_bytes
        return b"".join(self.read_at(heap + (c - 2) * cb, cb) for c in chain)

    def list_dir(self, node: Node, path: str, budget: WalkBudget | None) -> list[Listed]:
        data = self._dir_bytes(node, path)
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
            secondary = data[i + 1]
            attributes = struct.unpack_from("<H", data, i + 4)[0]
            end = i + 32 * (1 + secondary)
            if secondary < 2 or end > len(data) or data[i + 32] != ENTRY_STREAM:
                raise self._bad(f"broken entry set in directory {path!r}")
            s = i + 32
            flags, name_len = data[s + 1], data[s + 3]
            valid_bytes, first_cluster, size = struct.unpack_from("<Q4xIQ", data, s + 8)
            raw = b"".join(
                data[j + 2 : j + 32] for j in range(s + 32, end, 32) if data[j] == ENTRY_NAME
            )[: 2 * name_len]
            name = raw.decode("utf-16-le", "surrogatepass")
            is_contiguous = bool(flags & FLAG_NO_FAT_CHAIN)
            if attributes & ATTR_DIRECTORY:
                item = Listed(name, raw, EntryKind.DIR, Node(first_cluster, size, is_contiguous))
            else:
                item = Listed(
                    name, raw, EntryKind.FILE, Node(first_cluster, size, is_contiguous, valid_bytes)
                )
            out.append(item)
            i = end
        return out

"""FAT32 and exFAT card images: made with the tools a technician would use, read like the dock.

Making: mkfs.vfat filled with mtools `mcopy` (no mount, no root); mkfs.exfat filled through
a loop device and exfat-fuse, which needs root, because nothing in userspace here writes
exFAT. Reading: the same bounded readers the dock uses (`hw.fat32`, `hw.exfat`), opened
read-only, so an image is never mounted to be read (a mount alone changes a volume).
Deleting: `exact_delete`, which removes exactly the named file or refuses. The listing is
taken once and kept until the next delete, so reads stay cheap.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from firmware_bridge.sim.exact_delete import DeleteRefused, delete_exactly, free_clusters
from firmware_bridge.sim.storage import (
    READ_CHUNK_BYTES,
    FileFacts,
    Storage,
    StorageError,
    _card_name,
    scan_tree,
)
from hw.exfat import ExfatImageMassStorage
from hw.fat32 import FatImageMassStorage
from hw.mass_storage import Entry, EntryKind, MassStorageError

ImageReader = FatImageMassStorage | ExfatImageMassStorage

FAT32_MIN_CLUSTERS = 65525
IMAGE_HEADROOM_BYTES = 8 * 1024 * 1024


def _run(args: list[str], what: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    except FileNotFoundError:
        raise StorageError(f"{args[0]} not found; install it with `make debs`") from None
    if done.returncode != 0:
        detail = " ".join((done.stderr or done.stdout).split())[:200]
        raise StorageError(f"{what} failed ({args[0]}: {detail})")
    return done.stdout


def _tree_bytes(root: Path) -> int:
    return sum(size for _, size in scan_tree(root))


def _image_size(staging: Path, capacity_bytes: int | None, minimum_bytes: int) -> int:
    wanted = _tree_bytes(staging) * 5 // 4 + IMAGE_HEADROOM_BYTES
    size = max(capacity_bytes or 0, wanted, minimum_bytes)
    return (size + 1024 * 1024 - 1) // (1024 * 1024) * (1024 * 1024)


def _utc_s(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.astimezone(UTC).timestamp())


class ImageStorage(Storage):
    """A FAT32 or exFAT image read through the dock's own reader; subclasses say which."""

    def __init__(self, image: Path, label: str, *, utc_offset_min: int = 480) -> None:
        super().__init__(Path(image), label)
        self.utc_offset_min = utc_offset_min
        self._entries: dict[str, list[Entry]] = {}
        self._space: tuple[int, int] = (0, 0)

    def _reader(self) -> ImageReader:
        raise NotImplementedError

    def volume_label(self) -> str:
        """The label the card itself carries (what the dock checks against the serial)."""
        reader = self._open_reader()
        try:
            return reader.volume_label()
        finally:
            reader.close()

    def _open_reader(self) -> ImageReader:
        try:
            return self._reader()
        except MassStorageError as err:
            raise StorageError(f"card image {self.location}: {err}") from None

    def _scan(self) -> list[tuple[str, int]]:
        reader = self._open_reader()
        try:
            entries: dict[str, list[Entry]] = {}
            for entry in reader.walk():
                if entry.kind is EntryKind.FILE:
                    entries.setdefault(_card_name(entry.path), []).append(entry)
            cluster_bytes = reader.geometry.cluster_bytes
            total = reader.geometry.cluster_count * cluster_bytes
            self._space = (total, min(free_clusters(self.kind, reader) * cluster_bytes, total))
        except MassStorageError as err:
            raise StorageError(f"card image {self.location}: {err}") from None
        finally:
            reader.close()
        self._entries = entries
        self._facts = {
            name: FileFacts(_utc_s(found[0].modified_utc), found[0].is_readonly)
            for name, found in entries.items()
        }
        return [(name, found[0].size_bytes) for name, found in entries.items()]

    def _only(self, path: str) -> Entry:
        """The one file listed under `path` (call with the lock held)."""
        self._listing()
        found = self._entries.get(path, [])
        if len(found) != 1:
            what = "no file" if not found else f"{len(found)} files"
            raise StorageError(f"{what} listed as {path!r} on the card")
        return found[0]

    def _sha256(self, path: str) -> bytes:
        entry = self._only(path)
        reader = self._open_reader()
        try:
            digest = hashlib.sha256()
            with reader.open(entry) as handle:
                while chunk := handle.read(READ_CHUNK_BYTES):
                    digest.update(chunk)
            return digest.digest()
        except MassStorageError as err:
            raise StorageError(f"{path!r}: {err}") from None
        finally:
            reader.close()

    def _delete(self, path: str) -> None:
        entry = self._only(path)
        try:
            delete_exactly(self.kind, self.location, entry.path)
        except DeleteRefused as refusal:
            raise StorageError(f"not deleted: {refusal}") from None
        self.device_hashes.pop(path, None)

    def total_bytes(self) -> int:
        with self._lock:
            self._listing()
            return self._space[0]

    def free_bytes(self) -> int:
        with self._lock:
            self._listing()
            return self._space[1]


class Fat32ImageStorage(ImageStorage):
    kind = "fat32"

    @classmethod
    def create(
        cls,
        image: Path,
        label: str,
        staging: Path,
        *,
        capacity_bytes: int | None = None,
        cluster_bytes: int | None = None,
    ) -> "Fat32ImageStorage":
        cluster = cluster_bytes or 512
        minimum = (FAT32_MIN_CLUSTERS + 1024) * cluster + IMAGE_HEADROOM_BYTES
        size = _image_size(staging, capacity_bytes, minimum)
        image.parent.mkdir(parents=True, exist_ok=True)
        with open(image, "wb") as handle:
            handle.truncate(size)
        sectors = str(max(cluster // 512, 1))
        _run(["mkfs.vfat", "-F", "32", "-s", sectors, "-n", label[:11], str(image)], "mkfs.vfat")
        tops = sorted(str(p) for p in staging.iterdir())
        if tops:
            _run(["mcopy", "-s", "-m", "-i", str(image), *tops, "::/"], "mcopy onto the image")
        return cls(image, label)

    def _reader(self) -> ImageReader:
        return FatImageMassStorage(self.location, card_utc_offset_min=self.utc_offset_min)


@contextmanager
def mounted_exfat(image: Path) -> Iterator[Path]:
    """Mount an exFAT image read-write through a loop device and exfat-fuse (root only)."""
    if os.geteuid() != 0:
        raise StorageError("an exFAT card needs root (loop device + FUSE); run as root")
    loop = _run(["losetup", "-f", "--show", str(image)], "attaching a loop device").strip()
    mountpoint = Path(tempfile.mkdtemp(prefix="sim-exfat-"))
    try:
        _run(["mount.exfat-fuse", loop, str(mountpoint)], "mounting the exFAT image")
        try:
            yield mountpoint
        finally:
            _run(["umount", str(mountpoint)], "unmounting the exFAT image")
    finally:
        _run(["losetup", "-d", loop], "detaching the loop device")
        mountpoint.rmdir()


class ExfatImageStorage(ImageStorage):
    kind = "exfat"

    @classmethod
    def create(
        cls,
        image: Path,
        label: str,
        staging: Path,
        *,
        capacity_bytes: int | None = None,
        cluster_bytes: int | None = None,
    ) -> "ExfatImageStorage":
        size = _image_size(staging, capacity_bytes, 16 * 1024 * 1024)
        image.parent.mkdir(parents=True, exist_ok=True)
        with open(image, "wb") as handle:
            handle.truncate(size)
        args = ["mkfs.exfat", "-L", label[:11]]
        if cluster_bytes:
            args += ["-c", str(cluster_bytes)]
        _run([*args, str(image)], "mkfs.exfat")
        with mounted_exfat(image) as root:
            shutil.copytree(staging, root, dirs_exist_ok=True)
        return cls(image, label)

    def _reader(self) -> ImageReader:
        return ExfatImageMassStorage(self.location, card_utc_offset_min=self.utc_offset_min)

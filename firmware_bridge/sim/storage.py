"""The simulated recorder's card: a directory, a FAT32 image or an exFAT image.

The card is what the dock later reads over USB mass storage, so the images are real file
systems made by mkfs.vfat / mkfs.exfat, filled with mtools or through a FUSE mount, with
the volume label set to the device serial as real recorders do. Deleting a clip through
the protocol really removes it from the image. `location` is what a simulated hot-plug
source shows the dock as the recorder's disk.
"""

import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.sim.clips import GeneratedClip, write_clip_tree

READ_CHUNK_BYTES = 1024 * 1024


class StorageError(Exception):
    """The simulated card could not be made or read; the message says what to do."""


@dataclass(frozen=True)
class FileFacts:
    """What the card itself says about a file, for a listing of files no recorder made."""

    modified_utc_s: int | None = None
    is_readonly: bool = False


class Storage:
    """What SimBoard needs from a card. Paths are card paths, `/`-separated, no leading `/`."""

    kind = "abstract"
    utc_offset_min = 480
    """The zone the card's local times (FAT times, file names) were written in."""

    def __init__(self, location: Path, label: str) -> None:
        self.location = location
        self.label = label
        self.device_hashes: dict[str, bytes] = {}
        """SHA-256 the recorder keeps for some paths (a sidecar file); the rest have none."""
        self._lock = threading.Lock()
        self._files: list[tuple[str, int]] | None = None
        self._facts: dict[str, FileFacts] = {}

    def list_files(self) -> list[tuple[str, int]]:
        """Every regular file on the card as (path, size_bytes); cached until a delete."""
        with self._lock:
            return list(self._listing())

    def facts(self, path: str) -> FileFacts:
        """The card's own times and read-only mark for a listed path."""
        with self._lock:
            self._listing()
            return self._facts.get(path, FileFacts())

    def _listing(self) -> list[tuple[str, int]]:
        """The cached listing; call with the lock held."""
        if self._files is None:
            self._facts = {}
            self._files = sorted(self._scan())
        return self._files

    def rescan(self) -> None:
        """Forget the cached listing: files were changed on the card behind the recorder."""
        with self._lock:
            self._files = None

    def sha256(self, path: str) -> bytes:
        with self._lock:
            return self._sha256(path)

    def delete(self, path: str) -> None:
        with self._lock:
            self._delete(path)
            self._files = None

    def total_bytes(self) -> int:
        raise NotImplementedError

    def free_bytes(self) -> int:
        raise NotImplementedError

    def _scan(self) -> list[tuple[str, int]]:
        raise NotImplementedError

    def _sha256(self, path: str) -> bytes:
        raise NotImplementedError

    def _delete(self, path: str) -> None:
        raise NotImplementedError


def _hash_file(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_CHUNK_BYTES):
            digest.update(chunk)
    return digest.digest()


def scan_tree(root: Path) -> list[tuple[str, int]]:
    """Regular files under root, symlinks not followed (a hostile card may hold loops)."""
    return [(path, size) for path, size, _facts in scan_tree_facts(root)]


def scan_tree_facts(root: Path) -> list[tuple[str, int, FileFacts]]:
    """scan_tree with each file's modification time and read-only mark."""
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            full = Path(folder) / name
            st = full.lstat()
            if full.is_file() and not full.is_symlink():
                facts = FileFacts(int(st.st_mtime), not st.st_mode & 0o200)
                path = _card_name(full.relative_to(root).as_posix())
                found.append((path, st.st_size, facts))
    return found


def _card_name(name: str) -> str:
    """A name as the firmware can send it: every undecodable byte or lone UTF-16 half
    (surrogateescape or surrogatepass from the readers) becomes U+FFFD.

    One undecodable name must not stop the whole listing; the dock reads the card itself
    and keeps that file's raw name bytes.
    """
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in name)


def card_path(root: Path, path: str) -> Path:
    """Resolve a card path inside root, refusing any that would leave it."""
    full = (root / path).resolve()
    if not full.is_relative_to(root.resolve()):
        raise StorageError(f"card path {path!r} leaves the card; refused")
    return full


class DirectoryStorage(Storage):
    """A card that is a plain directory: fastest, for most tests and for `make run`."""

    kind = "dir"

    @classmethod
    def create(
        cls,
        root: Path,
        label: str,
        clips: list[GeneratedClip],
        *,
        capacity_bytes: int | None = None,
    ) -> "DirectoryStorage":
        root.mkdir(parents=True, exist_ok=True)
        write_clip_tree(root, clips)
        return cls(root, label, capacity_bytes=capacity_bytes)

    def __init__(self, root: Path, label: str, *, capacity_bytes: int | None = None) -> None:
        super().__init__(Path(root), label)
        self.capacity_bytes = capacity_bytes

    def total_bytes(self) -> int:
        if self.capacity_bytes is not None:
            return self.capacity_bytes
        return shutil.disk_usage(self.location).total

    def free_bytes(self) -> int:
        if self.capacity_bytes is not None:
            used = sum(size for _, size in self.list_files())
            return max(self.capacity_bytes - used, 0)
        return shutil.disk_usage(self.location).free

    def _scan(self) -> list[tuple[str, int]]:
        found = scan_tree_facts(self.location)
        self._facts = {path: facts for path, _size, facts in found}
        return [(path, size) for path, size, _facts in found]

    def _sha256(self, path: str) -> bytes:
        return _hash_file(card_path(self.location, path))

    def _delete(self, path: str) -> None:
        card_path(self.location, path).unlink()

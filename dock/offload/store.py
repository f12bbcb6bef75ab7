"""The evidence store: content-addressed, read-only objects that are never rewritten.

An object lives at ``<root>/objects/ab/cd/<sha256>``: its name is its proof, so anyone can
rehash it and see it was not changed. Bytes are first written to ``<root>/tmp/`` on the same
file system and only renamed into ``objects/`` once verified, so a crash at any instant
leaves temp files (removed at the next start) and never a half object.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from pathlib import Path

from dock.errors import DockError

HASH_CHUNK_BYTES = 4 << 20
DEFAULT_RESERVE_BYTES = 1 << 30
_HEX_DIGITS = frozenset("0123456789abcdef")


class StoreError(DockError):
    """The evidence store cannot take or give an object."""


class DiskReserveReached(StoreError):
    """Writing would eat into the free-space reserve kept for the dock itself."""


class StoredObjectDamaged(StoreError):
    """An object in the store no longer hashes to its name."""


def fsync_dir(path: Path) -> None:
    """fsync a directory: a rename or a new entry in it is not durable without it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_of_file(path: Path, chunk_bytes: int = HASH_CHUNK_BYTES) -> str:
    digest = hashlib.sha256()
    buf = bytearray(chunk_bytes)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def check_sha256_hex(sha256: str) -> str:
    if len(sha256) != 64 or not set(sha256) <= _HEX_DIGITS:
        raise StoreError(f"not a lowercase SHA-256 hex digest: {sha256[:80]!r}; fix the caller.")
    return sha256


class EvidenceStore:
    """Objects under ``root``; ``reserve_bytes`` of the disk are never used for evidence."""

    def __init__(self, root: Path | str, *, reserve_bytes: int = DEFAULT_RESERVE_BYTES) -> None:
        self.root = Path(root)
        self.objects_dir = self.root / "objects"
        self.tmp_dir = self.root / "tmp"
        self.reserve_bytes = reserve_bytes
        for d in (self.root, self.objects_dir, self.tmp_dir):
            d.mkdir(exist_ok=True)
        self.removed_temp_files = self._remove_leftover_temp_files()

    def _remove_leftover_temp_files(self) -> list[str]:
        """A temp file at start is a copy a crash cut short; its clip is still on the recorder."""
        removed = []
        for entry in os.scandir(self.tmp_dir):
            if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                os.unlink(entry.path)
                removed.append(entry.name)
        if removed:
            fsync_dir(self.tmp_dir)
        return removed

    def path_of(self, sha256: str) -> Path:
        check_sha256_hex(sha256)
        return self.objects_dir / sha256[:2] / sha256[2:4] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def verify(self, sha256: str) -> bool:
        """Rehash the stored object: True only if it exists and still matches its name."""
        path = self.path_of(sha256)
        try:
            return sha256_of_file(path) == sha256
        except FileNotFoundError:
            return False

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def ensure_room_for(self, size_bytes: int) -> None:
        """Refuse before writing: a full dock disk must stop the offload, not corrupt it."""
        free = self.free_bytes()
        if free - size_bytes < self.reserve_bytes:
            raise DiskReserveReached(
                f"dock disk has {free // (1 << 20)} MiB free; storing {size_bytes // (1 << 20)} MiB "
                f"would pass the {self.reserve_bytes // (1 << 20)} MiB reserve; free space or add a disk."
            )

    def open_temp(self) -> tuple[int, Path]:
        """A new, exclusive temp file (fd, path) in the store's own tmp/ (same file system)."""
        name = f"{os.getpid()}-{os.urandom(8).hex()}.part"
        path = self.tmp_dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        return fd, path

    def place(self, temp_path: Path, sha256: str) -> tuple[Path, bool]:
        """Move a verified, fsync'd temp file to its object path; (path, is_duplicate).

        An object that already exists is never rewritten: it is rehashed instead, and the
        temp file goes. The object is made read-only before the rename so that it is never
        visible writable; its directory (and any directory just created) is fsync'd.
        """
        final = self.path_of(sha256)
        if final.exists():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            if not self.verify(sha256):
                raise StoredObjectDamaged(
                    f"stored object {sha256} no longer matches its hash; run `dock audit verify`."
                )
            return final, True
        os.chmod(temp_path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        created = []
        for d in (final.parent.parent, final.parent):
            if not d.is_dir():
                d.mkdir(exist_ok=True)
                created.append(d)
        os.replace(temp_path, final)
        fsync_dir(final.parent)  # tmp/ is not synced: a temp name back after a crash is swept
        for d in reversed(created):
            fsync_dir(d.parent)
        return final, False

    def discard(self, temp_path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_path)

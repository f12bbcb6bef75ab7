"""The evidence store: content-addressed, read-only objects that are never rewritten.

An object lives at ``<root>/objects/ab/cd/<sha256>``: its name is its proof, so anyone can
rehash it and see it was not changed. Bytes are first written to ``<root>/tmp/`` on the same
file system and only renamed into ``objects/`` once verified, so a crash at any instant
leaves temp files (removed at the next start) and never a half object.

The one exception to "never rewritten" is a repair: an object that no longer hashes to its
name is moved aside to ``<root>/damaged/`` (kept for examination) and replaced by a fresh
copy whose bytes do hash to that name, e.g. read again from the recorder that still holds
the original. Several bays copy at once, so room for each copy is reserved before it starts
(``reserve``), and the sum of what copies in flight still have to write counts as used.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dock.errors import DockError

HASH_CHUNK_BYTES = 4 << 20
DEFAULT_RESERVE_BYTES = 1 << 30
_HEX_DIGITS = frozenset("0123456789abcdef")


class StoreError(DockError):
    """The evidence store cannot take or give an object."""


class DiskReserveReached(StoreError):
    """Writing would eat into the free-space reserve kept for the dock itself."""


class StoreWriteFailed(DiskReserveReached):
    """The dock's disk refused a write (ENOSPC, EDQUOT, EIO): stop cleanly, raise the alert."""


class StoredObjectDamaged(StoreError):
    """An object in the store no longer hashes to its name."""


def write_failure(err: OSError, what: str) -> StoreWriteFailed:
    """The one-line failure for an OSError from the store's own disk."""
    why = err.strerror or errno.errorcode.get(err.errno or 0, str(err))
    return StoreWriteFailed(
        f"dock disk refused {what} ({why}); the clip stays on the recorder: "
        "free space or replace the disk, then re-dock."
    )


@dataclass(frozen=True)
class Placed:
    path: Path
    is_duplicate: bool  # the same content was already stored (and still matched its name)
    damaged_copy: Path | None = None  # set when a damaged object was replaced (moved here)


class Reservation:
    """Room held for one copy in flight; `wrote` releases what has reached the disk."""

    def __init__(self, store: EvidenceStore, size_bytes: int) -> None:
        self._store = store
        self.remaining_bytes = size_bytes

    def wrote(self, n_bytes: int) -> None:
        self._store._release(min(n_bytes, self.remaining_bytes))
        self.remaining_bytes = max(self.remaining_bytes - n_bytes, 0)

    def release(self) -> None:
        self.wrote(self.remaining_bytes)


@dataclass(frozen=True)
class FixityProblem:
    sha256: str
    is_missing: bool  # False: present but no longer matching its name

    def line(self) -> str:
        what = "is missing" if self.is_missing else "no longer matches its SHA-256"
        return f"stored object {self.sha256} {what}"


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

    def __init__(
        self,
        root: Path | str,
        *,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        disk_free_bytes: Callable[[Path], int] | None = None,
        sweeps_temp_files: bool = True,
    ) -> None:
        """sweeps_temp_files=False for a reader beside the running service (`dock store
        verify`): its temp files are copies in flight, not leftovers of a crash."""
        self.root = Path(root)
        self.objects_dir = self.root / "objects"
        self.tmp_dir = self.root / "tmp"
        self.damaged_dir = self.root / "damaged"
        self.reserve_bytes = reserve_bytes
        self._disk_free_bytes = disk_free_bytes or (lambda p: shutil.disk_usage(p).free)
        self._lock = threading.Lock()
        self._in_flight_bytes = 0
        for d in (self.root, self.objects_dir, self.tmp_dir):
            d.mkdir(exist_ok=True)
        self.removed_temp_files = self._remove_leftover_temp_files() if sweeps_temp_files else []

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
        """Free on the disk less what copies in flight have reserved and not yet written."""
        with self._lock:
            return self._disk_free_bytes(self.root) - self._in_flight_bytes

    def ensure_room_for(self, size_bytes: int) -> None:
        """Refuse before writing: a full dock disk must stop the offload, not corrupt it."""
        with self._lock:
            self._check_room(size_bytes)

    @contextlib.contextmanager
    def reserve(self, size_bytes: int) -> Iterator[Reservation]:
        """Hold room for one copy while it runs; two bays cannot both count the same space."""
        with self._lock:
            self._check_room(size_bytes)
            self._in_flight_bytes += size_bytes
        reservation = Reservation(self, size_bytes)
        try:
            yield reservation
        finally:
            reservation.release()

    def _release(self, n_bytes: int) -> None:
        with self._lock:
            self._in_flight_bytes -= n_bytes

    def _check_room(self, size_bytes: int) -> None:
        free = self._disk_free_bytes(self.root) - self._in_flight_bytes
        if free - size_bytes < self.reserve_bytes:
            raise DiskReserveReached(
                f"dock disk has {max(free, 0) // (1 << 20)} MiB free; storing "
                f"{size_bytes // (1 << 20)} MiB would pass the {self.reserve_bytes // (1 << 20)} "
                "MiB reserve; free space or add a disk."
            )

    def open_temp(self) -> tuple[int, Path]:
        """A new, exclusive temp file (fd, path) in the store's own tmp/ (same file system)."""
        name = f"{os.getpid()}-{os.urandom(8).hex()}.part"
        path = self.tmp_dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        return fd, path

    def place(self, temp_path: Path, sha256: str, *, may_repair: bool = False) -> Placed:
        """Move a verified, fsync'd temp file to its object path.

        An object that already exists is never rewritten: it is rehashed instead, and the
        temp file goes. If it no longer matches its name, the temp file (whose bytes do)
        replaces it when may_repair, the damaged one moved to damaged/; otherwise
        StoredObjectDamaged. The object is made read-only before the rename so that it is
        never visible writable; its directory (and any directory just created) is fsync'd.
        """
        final = self.path_of(sha256)
        damaged_copy = None
        if final.exists():
            if self.verify(sha256):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp_path)
                return Placed(final, True)
            if not may_repair:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp_path)
                raise StoredObjectDamaged(
                    f"stored object {sha256} no longer matches its hash; "
                    "run `dock store verify` and re-dock the recorder that holds it."
                )
            damaged_copy = self._move_aside(final)
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
        return Placed(final, False, damaged_copy)

    def _move_aside(self, final: Path) -> Path:
        """Keep a damaged object for examination, under a name that never collides."""
        self.damaged_dir.mkdir(exist_ok=True)
        aside = self.damaged_dir / f"{final.name}.{os.urandom(4).hex()}"
        os.replace(final, aside)
        fsync_dir(self.damaged_dir)
        return aside

    def verify_objects(self, sha256s: list[str]) -> list[FixityProblem]:
        """Rehash each named object; one problem per missing or changed one."""
        problems = []
        for sha256 in sha256s:
            path = self.path_of(sha256)
            try:
                is_intact = sha256_of_file(path) == sha256
            except FileNotFoundError:
                problems.append(FixityProblem(sha256, is_missing=True))
                continue
            if not is_intact:
                problems.append(FixityProblem(sha256, is_missing=False))
        return problems

    def discard(self, temp_path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_path)

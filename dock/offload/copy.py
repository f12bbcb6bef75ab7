"""Copy once, prove it: one pass that reads a clip, hashes it and stores it durably.

The clip is read exactly once. A reader thread fills a few large buffers while this thread
hashes and writes the previous one (hashlib, readinto and os.write all release the GIL on
large buffers), so reading the recorder overlaps hashing; several bays copy at once on
several cores with plain threads. Writeback of the temp file is started as it is written
(sync_file_range) so the final fsync waits for the tail only, not the whole clip.

Nothing is placed in the store unless the byte count equals the size expected (what the
card's directory says) and the SHA-256 equals the recorder's hash when it keeps one; a clip
that changes while read fails one of the two and its temp file is deleted. Room is reserved
in the store before the first byte is written; a write the dock's disk refuses (ENOSPC, EIO)
is a StoreWriteFailed, a clean stop, never a bare OSError.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dock.errors import DockError
from dock.offload.store import EvidenceStore, write_failure

DEFAULT_CHUNK_BYTES = 1 << 20  # 3 buffers per bay stay in cache; measured no slower than 4 MiB
_BUFFERS = 3  # one being read, one being hashed and written, one spare
_CANCEL_WAIT_S = 5.0


class CopyFailed(DockError):
    """A clip could not be copied; the recorder still holds it and nothing was stored."""


class VerificationFailed(CopyFailed):
    """The bytes read are not the clip the recorder listed (size or hash differ)."""


class SourceUnreadable(CopyFailed):
    """The recorder's storage failed while the clip was read."""


class ReadableInto(Protocol):
    def readinto(self, buffer: bytearray | memoryview, /) -> int | None: ...


@dataclass(frozen=True)
class CopyResult:
    sha256: str
    size_bytes: int
    is_verified: bool  # True when the recorder's own hash was given and matched
    is_duplicate: bool  # the same content was already stored; nothing was rewritten
    path: Path
    damaged_copy: Path | None = None  # a damaged stored object this copy replaced (moved here)


def _load_sync_file_range() -> Callable[[int, int, int], None] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    write_flag = 2  # SYNC_FILE_RANGE_WRITE: start writeback, do not wait

    def start_writeback(fd: int, offset: int, length: int) -> None:
        fn(fd, offset, length, write_flag)

    return start_writeback


_start_writeback = _load_sync_file_range()


def _advise_sequential(source: object) -> None:
    try:
        fd = source.fileno()  # type: ignore[attr-defined]
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    except (AttributeError, OSError, ValueError):
        pass  # not a plain file (an image reader, a pipe): nothing to advise


def _read_full(source: ReadableInto, buf: bytearray) -> int:
    """Fill buf unless the source ends first; raw streams may return short reads."""
    view = memoryview(buf)
    filled = 0
    while filled < len(buf):
        n = source.readinto(view[filled:])
        if not n:
            break
        filled += n
    return filled


# Buffer sets are reused clip after clip instead of 3 fresh MiB per clip (which glibc keeps
# in its arenas anyway): a copy takes a set and gives it back, so the sets ever made are as
# many as copies ran at once (offload.max_concurrent_bays), not one per bay or per clip.
_pool: list[list[bytearray]] = []
_pool_lock = threading.Lock()


def _take_buffers(chunk_bytes: int) -> list[bytearray]:
    with _pool_lock:
        for i, kept in enumerate(_pool):
            if len(kept[0]) == chunk_bytes:
                return _pool.pop(i)
    return [bytearray(chunk_bytes) for _ in range(_BUFFERS)]


def _give_back(buffers: list[bytearray]) -> None:
    with _pool_lock:
        _pool.append(buffers)


class _Reader(threading.Thread):
    """Reads at most limit_bytes + 1 (enough to see a clip longer than listed)."""

    def __init__(self, source: ReadableInto, limit_bytes: int, chunk_bytes: int) -> None:
        super().__init__(name="clip-reader", daemon=True)
        self.source = source
        self.limit_bytes = limit_bytes
        self.free: queue.Queue[bytearray | None] = queue.Queue()
        self.full: queue.Queue[tuple[bytearray, int] | BaseException | None] = queue.Queue()
        self.buffers = _take_buffers(chunk_bytes)
        for buf in self.buffers:
            self.free.put(buf)

    def run(self) -> None:
        total = 0
        try:
            while total <= self.limit_bytes:
                buf = self.free.get()
                if buf is None:
                    return  # the consumer gave up
                n = _read_full(self.source, buf)
                if n == 0:
                    break
                total += n
                self.full.put((buf, n))
                if n < len(buf):
                    break
            self.full.put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            self.full.put(exc)

    def cancel(self) -> None:
        self.free.put(None)
        self.join(timeout=_CANCEL_WAIT_S)  # a hung card read must not hang the dock


def copy_and_hash(
    source: ReadableInto,
    expected_size_bytes: int,
    store: EvidenceStore,
    *,
    expected_sha256: str | bytes | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_progress: Callable[[int], None] | None = None,
    label: str = "clip",
    may_repair: bool = False,
) -> CopyResult:
    """Read source once into the store; return the proof or raise CopyFailed.

    label names the clip in messages (the recorder's path, as data). on_progress gets the
    byte count so far after each chunk (rate limiting is the caller's business). may_repair:
    these bytes may replace a stored object of the same name that no longer matches it.
    """
    if isinstance(expected_sha256, bytes):  # the link carries 32 raw bytes; b"" is "none kept"
        expected_sha256 = expected_sha256.hex() or None
    with store.reserve(expected_size_bytes) as reservation:
        try:
            return _copy(
                source,
                expected_size_bytes,
                store,
                expected_sha256,
                chunk_bytes,
                on_progress,
                label,
                may_repair,
                reservation.wrote,
            )
        except OSError as err:  # only the store's own writes raise OSError here
            raise write_failure(err, f"writing {label}") from None


def _copy(
    source: ReadableInto,
    expected_size_bytes: int,
    store: EvidenceStore,
    expected_sha256: str | None,
    chunk_bytes: int,
    on_progress: Callable[[int], None] | None,
    label: str,
    may_repair: bool,
    wrote: Callable[[int], None],
) -> CopyResult:
    _advise_sequential(source)
    digest = hashlib.sha256()
    fd, temp_path = store.open_temp()
    reader = _Reader(source, expected_size_bytes, chunk_bytes)
    size = 0
    is_placed = False
    try:
        reader.start()
        while (item := reader.full.get()) is not None:
            if isinstance(item, BaseException):
                if isinstance(item, OSError):
                    raise SourceUnreadable(
                        f"{label}: recorder storage read failed ({item.strerror or item}); "
                        "re-dock the recorder and retry."
                    ) from None
                raise item
            buf, n = item
            view = memoryview(buf)[:n]
            digest.update(view)
            _write_all(fd, view)
            wrote(n)
            if _start_writeback is not None:
                _start_writeback(fd, size, n)
            size += n
            reader.free.put(buf)
            if on_progress is not None:
                on_progress(size)
        reader.join()
        if size != expected_size_bytes:
            raise VerificationFailed(
                f"{label}: read {_size_text(size, expected_size_bytes)} but the recorder lists "
                f"{expected_size_bytes}; the clip changed or the card is damaged; it stays on the recorder."
            )
        sha256 = digest.hexdigest()
        if expected_sha256 is not None and sha256 != expected_sha256.lower():
            raise VerificationFailed(
                f"{label}: SHA-256 {sha256[:16]}... differs from the recorder's "
                f"{expected_sha256[:16]}...; it stays on the recorder."
            )
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # evidence is not re-read soon
        os.close(fd)
        fd = -1
        placed = store.place(temp_path, sha256, may_repair=may_repair)
        is_placed = True
        return CopyResult(
            sha256=sha256,
            size_bytes=size,
            is_verified=expected_sha256 is not None,
            is_duplicate=placed.is_duplicate,
            path=placed.path,
            damaged_copy=placed.damaged_copy,
        )
    finally:
        if reader.is_alive():
            reader.cancel()
        if not reader.is_alive():  # a reader stuck in a hung read keeps its buffers
            _give_back(reader.buffers)
        if fd >= 0:
            os.close(fd)
        if not is_placed:
            store.discard(temp_path)


def _size_text(size: int, expected: int) -> str:
    return f"more than {expected} bytes" if size > expected else f"{size} bytes"


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        written = os.write(fd, view)
        view = view[written:]

"""One disc image: ISO-9660 level 3 (multi-extent, so clips over 4 GiB), Joliet and UDF 2.60.

pycdlib keeps each added file object and reads it only while mastering, so a clip streams
from the store into the image and is never held in memory. Each clip is read through
`ProvingReader`, which hashes what pycdlib takes: the bag's manifest line for a clip is its
store name, and an image whose clip bytes did not hash to it is refused, not handed out.
Runs of zeros are skipped rather than written, so an image of a sparse clip stays sparse.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dock.errors import DockError

COPY_BLOCK_BYTES = 4 << 20


class ExportImageFailed(DockError):
    """An image could not be written as the bag says (a clip's bytes, or the disk)."""


@dataclass(frozen=True)
class DiscFile:
    """A file for the image: its path under the root (Joliet/UDF form) and where its bytes are."""

    path: str  # e.g. "bag/data/clips/name.mp4"
    size_bytes: int
    data: bytes | None = None  # small files built in memory
    source: Path | None = None  # a stored object, streamed
    sha256: str | None = None  # what the source's bytes must hash to


class ProvingReader(io.RawIOBase):
    """A read-only file that hashes every byte pycdlib reads from it, in order."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed with the image)
        self._digest = hashlib.sha256()
        self._hashed_to = 0
        self.is_in_order = True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        at = self._file.tell()
        n = self._file.readinto(buffer) or 0
        if at != self._hashed_to:
            self.is_in_order = False
        elif n:
            self._digest.update(memoryview(buffer)[:n])
            self._hashed_to += n
        return n

    def sha256(self) -> str | None:
        return self._digest.hexdigest() if self.is_in_order else None

    def close(self) -> None:
        self._file.close()
        super().close()


class SparseWriter(io.RawIOBase):
    """The image file: a block of zeros becomes a hole (a seek), everything else is written."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._at = 0
        self._end = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            self._at = self._end + offset
        elif whence == os.SEEK_CUR:
            self._at += offset
        else:
            self._at = offset
        return self._at

    def tell(self) -> int:
        return self._at

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        raw = data if isinstance(data, bytes) else bytes(data)
        n = len(raw)
        if raw.count(0) != n:
            os.pwrite(self._fd, raw, self._at)
        self._at += n
        self._end = max(self._end, self._at)
        return n

    def finish(self) -> None:
        os.ftruncate(self._fd, self._end)
        os.fsync(self._fd)


def _dirs_of(paths: list[str]) -> Iterator[str]:
    seen: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in seen:
                seen.add(d)
                yield d


def _iso_names(paths: list[str]) -> dict[str, str]:
    """Plain ISO-9660 names (D-characters) for readers that see neither Joliet nor UDF."""
    names: dict[str, str] = {}
    counters: dict[str, int] = {}
    for path in [*_dirs_of(paths), *paths]:
        parent, _, base = path.rpartition("/")
        iso_parent = names.get(parent, "")
        n = counters[iso_parent] = counters.get(iso_parent, 0) + 1
        is_dir = path not in paths
        ext = os.path.splitext(base)[1][1:4].upper()
        ext = ext if ext.isalnum() and ext.isascii() else ""
        iso = f"D{n:04d}" if is_dir else f"F{n:04d}" + (f".{ext}" if ext else ".")
        names[path] = f"{iso_parent}/{iso}"
    return names


def write_image(target: Path, volume_id: str, files: list[DiscFile]) -> str:
    """Write the image to target (fsync'd); return its SHA-256, read back from the disk."""
    import pycdlib

    paths = [f.path for f in files]
    iso_names = _iso_names(paths)
    disc = pycdlib.PyCdlib()
    disc.new(interchange_level=3, joliet=3, udf="2.60", vol_ident=volume_id)
    readers: list[tuple[DiscFile, ProvingReader]] = []
    with ExitStack() as stack:
        for d in _dirs_of(paths):
            disc.add_directory(iso_names[d], joliet_path=f"/{d}", udf_path=f"/{d}")
        for f in files:
            fp: BinaryIO
            if f.source is not None:
                reader = stack.enter_context(ProvingReader(f.source))
                readers.append((f, reader))
                fp = reader  # type: ignore[assignment]
            else:
                fp = io.BytesIO(f.data or b"")
            disc.add_fp(
                fp,
                f.size_bytes,
                iso_names[f.path] + ";1",
                joliet_path=f"/{f.path}",
                udf_path=f"/{f.path}",
            )
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            out = SparseWriter(fd)
            disc.write_fp(out, blocksize=COPY_BLOCK_BYTES)  # type: ignore[arg-type]
            out.finish()
        except OSError as err:
            raise ExportImageFailed(
                f"writing {target.name} failed ({err.strerror}); free space and export again"
            ) from None
        finally:
            os.close(fd)
            disc.close()
        for f, reader in readers:
            proven = reader.sha256()
            if proven is None:
                proven = _sha256_of(f.source)  # type: ignore[arg-type]
            if proven != f.sha256:
                raise ExportImageFailed(
                    f"stored clip {f.sha256} read back as {proven} while writing {target.name}: "
                    "run `dock store verify` and export again"
                )
    return _sha256_of(target)


def _sha256_of(path: Path) -> str:
    from dock.offload.store import sha256_of_file

    return sha256_of_file(path)

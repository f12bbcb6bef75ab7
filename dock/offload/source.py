"""Which entries of a recorder's volume are taken as clips, and which are quarantined, why.

Recorder storage is hostile input: a name may try to climb out of a directory, point
elsewhere (a symlink), be a device, not be text at all, or a file may be empty, absurdly
large, or not the size the recorder listed. Each such entry gets a quarantine record with a
one-line reason, and every other clip still comes off. Names stay data: a quarantine
record keeps the name as hex, never as a host path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from hw.mass_storage import Entry, EntryKind

DEFAULT_MAX_FILE_BYTES = 64 << 30


class QuarantineCode(StrEnum):
    UNSAFE_NAME = "unsafe_name"
    NOT_UTF8 = "not_utf8"
    SYMLINK = "symlink"
    DEVICE = "device"
    NOT_A_FILE = "not_a_file"
    EMPTY = "empty"
    OVERSIZED = "oversized"
    SIZE_MISMATCH = "size_mismatch"
    NOT_LISTED = "not_listed"
    MISSING = "missing"


@dataclass(frozen=True)
class ListedClip:
    """A clip as the recorder's ListClips reported it (path, size, hash or None)."""

    path: str
    size_bytes: int
    sha256: str | None = None


@dataclass(frozen=True)
class Take:
    entry: Entry
    listed: ListedClip | None


@dataclass(frozen=True)
class Quarantine:
    path: str  # data only; may hold surrogates where the name was not text
    path_hex: str  # the name's bytes, for the record
    code: QuarantineCode
    reason: str  # one line
    entry: Entry | None = None


@dataclass
class Classification:
    take: list[Take] = field(default_factory=list)
    quarantine: list[Quarantine] = field(default_factory=list)


def path_bytes(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape" if _has_escapes(path) else "surrogatepass")


def _has_escapes(path: str) -> bool:
    return any(0xDC80 <= ord(c) <= 0xDCFF for c in path)


def printable(path: str) -> str:
    """The path for a message: escapes for anything not printable or not text."""
    text = path.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def unsafe_name_reason(path: str, depth: int | None = None) -> str | None:
    """Why a path could escape or confuse a directory, or None if it cannot."""
    if path.startswith("/"):
        return "absolute path"
    parts = path.split("/")
    if depth is not None and len(parts) != depth + 1:
        return "a name contains '/'"
    for part in parts:
        if part in ("", ".", ".."):
            return f"path component {part!r}"
        if "\\" in part:
            return "backslash in name"
        if "\0" in part or any(ord(c) < 0x20 for c in part):
            return "control character in name"
    return None


def _is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _judge(
    entry: Entry, listed: ListedClip | None, has_listing: bool, max_file_bytes: int
) -> tuple[QuarantineCode, str] | None:
    if entry.kind is EntryKind.SYMLINK:
        return QuarantineCode.SYMLINK, "symbolic link; links are never followed"
    if entry.kind is EntryKind.DEVICE:
        return QuarantineCode.DEVICE, "device file, FIFO or socket; not a clip"
    if entry.kind is not EntryKind.FILE:
        return QuarantineCode.NOT_A_FILE, "not a plain file"
    why = unsafe_name_reason(entry.path, entry.depth)
    if why:
        return QuarantineCode.UNSAFE_NAME, f"unsafe name ({why})"
    if not _is_utf8(entry.path):
        return QuarantineCode.NOT_UTF8, "name is not valid UTF-8 text; kept as hex"
    if entry.size_bytes == 0:
        return QuarantineCode.EMPTY, "zero-length file"
    if entry.size_bytes > max_file_bytes:
        return (
            QuarantineCode.OVERSIZED,
            f"{entry.size_bytes} bytes, over the {max_file_bytes}-byte limit",
        )
    if has_listing and listed is None:
        return QuarantineCode.NOT_LISTED, "on the card but not in the recorder's clip listing"
    if listed is not None and listed.size_bytes != entry.size_bytes:
        return (
            QuarantineCode.SIZE_MISMATCH,
            f"{entry.size_bytes} bytes on the card, {listed.size_bytes} in the recorder's listing",
        )
    return None


def classify(
    entries: Iterable[Entry],
    listing: Mapping[str, ListedClip] | None = None,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Classification:
    """Split a walk into clips to take and entries to quarantine (directories are neither).

    With a listing (the recorder's ListClips, by path), only listed clips are taken, and a
    listed clip missing from the volume is quarantined too, so nothing goes unaccounted.
    """
    out = Classification()
    seen: set[str] = set()
    for entry in entries:
        if entry.kind is EntryKind.DIR:
            continue
        seen.add(entry.path)
        listed = listing.get(entry.path) if listing is not None else None
        verdict = _judge(entry, listed, listing is not None, max_file_bytes)
        if verdict is None:
            out.take.append(Take(entry, listed))
        else:
            code, why = verdict
            hex_name = path_bytes(entry.path).hex()
            reason = f"{printable(entry.path)}: {why}"
            out.quarantine.append(Quarantine(entry.path, hex_name, code, reason, entry))
    for path in listing or {}:
        if path not in seen:
            unsafe = unsafe_name_reason(path)
            detail = (
                f"listed with an unsafe name ({unsafe})" if unsafe else "listed but not on the card"
            )
            out.quarantine.append(
                Quarantine(
                    path,
                    path_bytes(path).hex(),
                    QuarantineCode.MISSING,
                    f"{printable(path)}: {detail}",
                )
            )
    return out

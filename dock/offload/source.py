"""Which entries of a recorder's volume are taken, with what doubts, and which stay, why.

Recorder storage is hostile input, and the dock acquires like a forensic examiner
(`judge_entry`): every plain file that can be read comes off, whatever its name (kept as
raw bytes, shown escaped), size (zero-length too) or place in the recorder's listing (the
listing is a cross-check, not a filter). What makes a copy unprovable is a doubt, and a
doubted clip is recorded as not verified and never deleted from the recorder. Only what
has no bytes to copy (a symlink, a device, an unreadable directory) or is absurdly large is
quarantined: left on the card with a one-line reason. Names stay data, never host paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hw.mass_storage import Entry, EntryKind

DEFAULT_MAX_FILE_BYTES = 64 << 30
NOT_LISTED = "not listed by the recorder"


class Verification(StrEnum):
    """How a stored copy was proven (Clip.verification)."""

    DEVICE_HASH = "device_hash"  # SHA-256 equal to the recorder's own hash
    SIZE_ONLY = "size_only"  # no device hash; size as listed; the card's chain was clean
    NOT_VERIFIED = "not_verified"  # copied as read; the reason says why it is not proven


class QuarantineCode(StrEnum):
    SYMLINK = "symlink"
    DEVICE = "device"
    NOT_A_FILE = "not_a_file"
    OVERSIZED = "oversized"
    MISSING = "missing"
    UNREADABLE = "unreadable"  # a directory (or the rest of the walk) the reader could not read


@dataclass(frozen=True)
class ListedClip:
    """A clip as the recorder's ListClips reported it (path, size, hash or None)."""

    path: str
    size_bytes: int
    sha256: str | None = None


@dataclass(frozen=True)
class Quarantine:
    path: str  # data only; may hold surrogates where the name was not text
    path_hex: str  # the name's bytes, for the record
    code: QuarantineCode
    reason: str  # one line
    entry: Entry | None = None


@dataclass(frozen=True)
class Intake:
    """A file to copy: what to expect of it and why its copy could not be proven."""

    entry: Entry
    listed: ListedClip | None
    expected_size_bytes: int  # what the card's directory says: the card's bytes are copied
    expected_sha256: str | None  # the recorder's own hash, when it applies to these bytes
    doubts: tuple[str, ...]  # each makes the copy not_verified (and keeps it on the card)
    keep_reason: str | None = None  # verified, but must not be deleted (an unsafe name)


def judge_entry(
    entry: Entry, listed: ListedClip | None, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Intake | Quarantine | None:
    """Take the entry (with its doubts), quarantine it (no bytes to take), or None (a folder)."""
    if entry.kind is EntryKind.DIR:
        return None
    hex_name = raw_path_hex(entry)
    shown = printable(entry.path)
    code_why = _no_bytes_to_take(entry, max_file_bytes)
    if code_why is not None:
        code, why = code_why
        return Quarantine(entry.path, hex_name, code, f"{shown}: {why}", entry)
    doubts = []
    if entry.problem:
        doubts.append(entry.problem)
    expected_sha256 = listed.sha256 if listed is not None else None
    if listed is None:
        doubts.append(NOT_LISTED)
    elif listed.size_bytes != entry.size_bytes:
        doubts.append(
            f"{entry.size_bytes} bytes on the card, {listed.size_bytes} in the recorder's listing"
        )
        expected_sha256 = None  # the recorder's hash is of something else: copy what is there
    unsafe = unsafe_name_reason(entry.path, entry.depth)
    keep = f"unsafe name ({unsafe}): not sent back to the recorder to delete" if unsafe else None
    return Intake(entry, listed, entry.size_bytes, expected_sha256, tuple(doubts), keep)


def _no_bytes_to_take(entry: Entry, max_file_bytes: int) -> tuple[QuarantineCode, str] | None:
    if entry.kind is EntryKind.BROKEN:
        return QuarantineCode.UNREADABLE, entry.problem or "could not be read"
    if entry.kind is EntryKind.SYMLINK:
        return QuarantineCode.SYMLINK, "symbolic link; links are never followed"
    if entry.kind is EntryKind.DEVICE:
        return QuarantineCode.DEVICE, "device file, FIFO or socket; not a clip"
    if entry.kind is not EntryKind.FILE:
        return QuarantineCode.NOT_A_FILE, "not a plain file"
    if entry.size_bytes > max_file_bytes:
        return (
            QuarantineCode.OVERSIZED,
            f"{entry.size_bytes} bytes, over the {max_file_bytes}-byte limit",
        )
    return None


def raw_path_hex(entry: Entry) -> str:
    """The name's evidence: each component's raw bytes in hex, '/'-joined (hex holds no '/')."""
    if entry.raw_path:
        return "/".join(part.hex() for part in entry.raw_path)
    return "/".join(path_bytes(part).hex() for part in entry.path.split("/"))


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

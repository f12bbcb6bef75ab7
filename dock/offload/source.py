"""Which entries of a recorder's volume are taken, with what doubts, and which stay, why.

Recorder storage is hostile input, and the dock acquires like a forensic examiner
(`judge_entry`): every plain file that can be read comes off, whatever its name (kept as
raw bytes, shown escaped), size (zero-length too) or place in the recorder's listing (the
listing is a cross-check, not a filter). What makes a copy unprovable is a doubt, and a
doubted clip is recorded as not verified and never deleted from the recorder. Only what
has no bytes to copy (a symlink, a device, an unreadable directory) or is absurdly large is
quarantined: left on the card with a one-line reason. Names stay data, never host paths.

`classify` is the earlier whole-walk filter (listed, safe, non-empty clips only); the dock
no longer uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
    UNREADABLE = "unreadable"  # a directory (or the rest of the walk) the reader could not read


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

"""Names on the disc: one name per file, the same in the Joliet and the UDF tree.

pycdlib refuses a Joliet name longer than 64 bytes of UTF-8 (Joliet itself allows 64 UCS-2
characters), so a Chinese name of 22 characters is already too long. The manifest names one
path that must read the same on whatever tree a machine mounts, so both trees get the name
shortened to fit those 64 bytes, keeping its extension; the note keeps the card's full name.
A card's name is data, never a path: separators and control characters are replaced.
"""

from __future__ import annotations

import posixpath
import unicodedata

JOLIET_NAME_MAX_BYTES = 64
_UNSAFE = frozenset('/\\:*?"<>|')


def safe_name(card_path: str, fallback: str) -> str:
    """The card's base name with what a disc or a shell cannot hold replaced by '_'."""
    base = posixpath.basename(card_path.replace("\\", "/"))
    cleaned = "".join(
        "_" if c in _UNSAFE or unicodedata.category(c).startswith("C") else c for c in base
    ).strip(" .")
    return cleaned or fallback


def fit_utf8(name: str, limit_bytes: int = JOLIET_NAME_MAX_BYTES) -> str:
    """Shorten name to limit_bytes of UTF-8, whole characters only, keeping the extension."""
    if len(name.encode()) <= limit_bytes:
        return name
    stem, ext = posixpath.splitext(name)
    if len(ext.encode()) > limit_bytes // 4:
        stem, ext = name, ""
    room = limit_bytes - len(ext.encode())
    kept = stem.encode()[:room].decode("utf-8", errors="ignore")
    return kept + ext


def unique_names(wanted: list[str]) -> list[str]:
    """Each name fitted and made unique (case-blind, as Joliet readers compare) with ~N."""
    taken: set[str] = set()
    out = []
    for name in wanted:
        candidate = fit_utf8(name)
        n = 1
        while candidate.casefold() in taken:
            stem, ext = posixpath.splitext(name)
            suffix = f"~{n}{ext}"
            candidate = fit_utf8(stem, JOLIET_NAME_MAX_BYTES - len(suffix.encode())) + suffix
            n += 1
        taken.add(candidate.casefold())
        out.append(candidate)
    return out

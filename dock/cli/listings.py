"""The listings the CLI offers, as plain SQL a test can EXPLAIN.

A dock holds a million clips after a year or two; each listing here reads its page through
an index that serves both its filter and its order (migration 0003), never by sorting the
table. tests/integration/test_cli_listings.py runs EXPLAIN QUERY PLAN on each one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dock.clock import stored_time

CLIP_COLUMNS = (
    "recorded_start_utc, device_serial, officer_number, source_path, size_bytes, sha256, "
    "verification, verification_reason, is_late, is_important, is_listed, metadata_disagreements"
)
# One filter at most per page, each with its own index; "" is the whole store by time.
CLIP_FILTERS = {
    "": ("", "ix_clips_stored"),
    "device": ("WHERE device_serial = ?", "ix_clips_device_stored"),
    "officer": ("WHERE officer_number = ?", "ix_clips_officer_stored"),
    "late": ("WHERE is_late = ?", "ix_clips_late_stored"),
    "verification": ("WHERE verification = ?", "ix_clips_verification_stored"),
}
QUARANTINE_COLUMNS = "at_utc, device_serial, bay, code, reason"
QUARANTINE_FILTERS = {
    "": ("", None),  # newest first is the rowid order itself
    "device": ("WHERE device_serial = ?", "ix_quarantine_device_serial"),
}


@dataclass(frozen=True)
class ClipLine:
    recorded_start_utc: datetime | None
    device_serial: str
    officer_number: str | None
    source_path: str
    size_bytes: int
    sha256: str
    verification: str
    verification_reason: str
    is_late: bool
    is_important: bool
    is_listed: bool
    metadata_disagreements: str


def clips_sql(by: str) -> str:
    where, index = CLIP_FILTERS[by]
    return (
        f"SELECT {CLIP_COLUMNS} FROM clips INDEXED BY {index} {where} "
        "ORDER BY stored_at_utc DESC, id DESC LIMIT ?"
    )


def quarantine_sql(by: str) -> str:
    where, _index = QUARANTINE_FILTERS[by]
    return f"SELECT {QUARANTINE_COLUMNS} FROM quarantine {where} ORDER BY id DESC LIMIT ?"


def clips_page(raw: sqlite3.Connection, by: str, value: Any, limit: int) -> list[ClipLine]:
    """The newest `limit` clips, optionally of one device, officer, lateness or verification."""
    params = ([] if by == "" else [value]) + [limit]
    lines = []
    for row in raw.execute(clips_sql(by), params):
        recorded, *rest = row
        lines.append(ClipLine(stored_time(recorded), *rest))
    return lines

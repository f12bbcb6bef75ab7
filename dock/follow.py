"""Following one bay in the journal from another process (the CLI beside `dock serve`).

The journal is the one record of what the service did, so the CLI reads the outcome from
it instead of asking the service to describe it: what a person sees is what an auditor
will find. It reads through a plain sqlite3 connection: `dock check` should not pay for
SQLAlchemy to read a few rows.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

from dock import journal

POLL_S = 0.05
# Moves after which no verdict will come for this docking: the bay has settled without a
# check (a recorder not accepted, e.g. another protocol version, never reaches one).
GAVE_UP = {
    ("fault", ""),
    ("empty", ""),
    ("attention", "offload_failed"),
    ("attention", "not_accepted"),
}


def rows_for_bay(
    raw: sqlite3.Connection, bay: int, cursor: int, wait_s: float
) -> Iterator[journal.JournalEntry]:
    """The bay's journal rows after `cursor`, as they are committed, for up to wait_s."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        rows = journal.read_after(raw, cursor, limit=500)
        for row in rows:
            cursor = row.id
            if row.bay == bay:
                yield row
        if not rows:
            time.sleep(POLL_S)


def outcome_of(row: journal.JournalEntry) -> tuple[str, list[str]] | None:
    """(verdict word, reasons) when this row ends a check, else None."""
    if row.type == "check.completed":
        return row.data["verdict"], list(row.data.get("reasons", []))
    if row.type == "bay.state_changed":
        to_state, trigger = row.data["to_state"], row.data["trigger"]
        if (to_state, "") in GAVE_UP or (to_state, trigger) in GAVE_UP:
            return "NOT READY", [row.data.get("reason") or f"the bay went {to_state}"]
    return None


def journal_cursor(raw: sqlite3.Connection) -> int:
    newest = journal.latest(raw, limit=1)
    return newest[-1].id if newest else 0

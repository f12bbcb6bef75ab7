"""Journals for the registry tests, made by the real dock code on a real dock database.

`DockJournal` appends real events with dock.journal.append and turns each row into the
message the dock publishes (reporting.row_message). `rewrite` and `truncate` do what a dock
owner with file access could do to the SQLite file: edit a row and recompute every later
hash so the local chain verifies again, or cut the tail and append new rows.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dock import journal
from dock.clock import FixedClock
from dock.db import open_database
from dock.events import BayStateChanged, JournalCheckpointSigned
from firmware_bridge import reporting

START = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
PREFIX = "bodycam-dock"


class DockJournal:
    def __init__(self, data_dir: Path, dock_id: str = "dock-1") -> None:
        self.dock_id = dock_id
        self.db = open_database(data_dir)
        self.clock = FixedClock(START)
        self.key = Ed25519PrivateKey.generate()

    @property
    def public_key_hex(self) -> str:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def append(self, count: int, bay: int = 1) -> None:
        for n in range(count):
            self.clock.advance(1.5)
            event = BayStateChanged(
                bay=bay, device="RX-1", from_state="empty", to_state="identifying", trigger=f"t{n}"
            )
            with self.db.transaction() as session:
                journal.append(session, event, actor="bay", at=self.clock.now_utc())

    def append_event(self, event: Any, actor: str = "dock") -> None:
        self.clock.advance(1.5)
        with self.db.transaction() as session:
            journal.append(session, event, actor=actor, at=self.clock.now_utc())

    def checkpoint(
        self, *, key: Ed25519PrivateKey | None = None, journal_size: int | None = None
    ) -> None:
        """A signed checkpoint of the journal as it is (or claiming `journal_size`)."""
        head = self.entries()[-1]
        size = head.id if journal_size is None else journal_size
        signed_at = reporting.iso_utc(self.clock.now_utc())
        signer = key or self.key
        message = reporting.checkpoint_bytes(self.dock_id, size, head.id, head.hash, signed_at)
        public = signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        self.append_event(
            JournalCheckpointSigned(
                journal_size=size,
                head_id=head.id,
                head_hash=head.hash,
                signed_at=signed_at,
                public_key=public,
                signature=signer.sign(message).hex(),
            )
        )

    def entries(self) -> list[journal.JournalEntry]:
        with self.db.transaction() as session:
            return journal.read_after(session, 0, limit=1_000_000)

    def messages(self, after: int = 0) -> list[tuple[str, bytes]]:
        """(topic, payload) for every row after `after`, as the publisher sends them."""
        return [
            (
                reporting.journal_topic(PREFIX, self.dock_id, entry.type),
                reporting.encode(reporting.row_message(self.dock_id, entry)),
            )
            for entry in self.entries()
            if entry.id > after
        ]

    def _raw(self) -> sqlite3.Connection:
        raw = sqlite3.connect(str(self.db.engine.url.database), isolation_level=None)
        raw.execute("DROP TRIGGER IF EXISTS journal_refuses_update")
        raw.execute("DROP TRIGGER IF EXISTS journal_refuses_delete")
        return raw

    def rewrite(self, row_id: int, data: dict[str, Any]) -> None:
        """Edit one row's data and recompute every hash from it on: the local chain verifies."""
        raw = self._raw()
        raw.execute(
            "UPDATE journal SET data = ? WHERE id = ?", (journal.canonical_json(data), row_id)
        )
        self._rehash(raw, row_id)
        raw.close()

    def truncate(self, keep: int) -> None:
        """Cut the journal after row `keep` (the tail a dock owner wants gone)."""
        raw = self._raw()
        raw.execute("DELETE FROM journal WHERE id > ?", (keep,))
        raw.close()

    def _rehash(self, raw: sqlite3.Connection, from_id: int) -> None:
        prev = raw.execute("SELECT hash FROM journal WHERE id = ?", (from_id - 1,)).fetchone()
        prev_hash = prev[0] if prev else journal.GENESIS_HASH
        for entry in self.entries():
            if entry.id < from_id:
                continue
            new_hash = journal.row_hash(
                entry.id, entry.at_utc, entry.type, entry.actor, entry.bay, entry.device,
                journal.canonical_json(entry.data), prev_hash,
            )  # fmt: skip
            raw.execute(
                "UPDATE journal SET prev_hash = ?, hash = ? WHERE id = ?",
                (prev_hash, new_hash, entry.id),
            )
            prev_hash = new_hash

    def close(self) -> None:
        self.db.close()

"""The journal: one append-only, hash-chained record of everything that matters at the dock.

It is the audit log, the MQTT outbox (drained from a cursor after commit) and what the LEDs
follow. Each row carries the SHA-256 of its own contents and of the row before it, so an
edited, deleted or inserted row breaks the chain at a place `verify` can name, even when
someone with the file has dropped the triggers that refuse UPDATE and DELETE.

A row is appended inside the caller's transaction: the state change and its journal row
commit together or not at all. Ids are given by the journal (last id + 1) because the id is
part of what is hashed.

Concurrency: the row after the head can only be written by one transaction at a time. The
database guarantees that (SQLite: every transaction begins IMMEDIATE, see dock.db.database;
PostgreSQL: a transaction-scoped advisory lock), and a unique prev_hash refuses a second row
after the same head should anything else reach the database. A process lock also serialises
appends between threads; it is taken only after the transaction holds the database's write
lock, so a thread waiting for one never holds the other.

What the chain cannot catch on its own: someone who rewrites every row from some point on
and recomputes all hashes. The central registry, which receives the hashes over MQTT, is
the outside anchor for that.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from dock.db.database import APPENDED_EVENTS
from dock.db.models import JournalRow
from dock.events import Event

GENESIS_HASH = "0" * 64  # the prev_hash of the first row
PG_APPEND_LOCK_KEY = 0x646F636B4A524E  # "dockJRN": the advisory lock id on PostgreSQL
_append_lock = threading.Lock()


@dataclass(frozen=True)
class JournalEntry:
    id: int
    at_utc: datetime
    type: str
    actor: str
    bay: int | None
    device: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    rows_checked: int
    last_id: int | None
    last_hash: str
    first_broken_id: int | None = None
    problem: str | None = None  # one line naming the first broken row

    @property
    def is_intact(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem is not None:
            return f"journal broken: {self.problem}"
        return f"journal intact: {self.rows_checked} rows, head {self.last_hash[:16]}"


def canonical_json(value: Any) -> str:
    """The one serialization that is hashed: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(
    id_: int,
    at_utc: datetime,
    type_: str,
    actor: str,
    bay: int | None,
    device: str | None,
    data_json: str,
    prev_hash: str,
) -> str:
    contents = [id_, _iso(at_utc), type_, actor, bay, device, data_json, prev_hash]
    return hashlib.sha256(canonical_json(contents).encode("utf-8")).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def append(session: Session, event: Event, *, actor: str, at: datetime) -> JournalEntry:
    """Add `event` as the next row, in the caller's open transaction; commit is theirs.

    The event is also kept on the session; dock.db.Database publishes it to its EventBus
    once the transaction has committed (and drops it on rollback).
    """
    if at.tzinfo is None:
        raise ValueError("journal times are aware UTC datetimes; use the injected Clock")
    connection = session.connection()  # begins the transaction: the database lock first
    with _append_lock:
        if connection.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_APPEND_LOCK_KEY})
        head = session.execute(
            select(JournalRow.id, JournalRow.hash).order_by(JournalRow.id.desc()).limit(1)
        ).first()
        id_, prev_hash = (head.id + 1, head.hash) if head is not None else (1, GENESIS_HASH)
        data_json = canonical_json(event.data())
        digest = row_hash(id_, at, event.type, actor, event.bay, event.device, data_json, prev_hash)
        row = JournalRow(
            id=id_,
            at_utc=at,
            type=event.type,
            actor=actor,
            bay=event.bay,
            device=event.device,
            data=data_json,
            prev_hash=prev_hash,
            hash=digest,
        )
        session.add(row)
        session.flush()
    session.info.setdefault(APPENDED_EVENTS, []).append(event)
    return _entry(row)


def _entry(row: JournalRow) -> JournalEntry:
    return JournalEntry(
        id=row.id,
        at_utc=row.at_utc,
        type=row.type,
        actor=row.actor,
        bay=row.bay,
        device=row.device,
        data=json.loads(row.data),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def read_after(session: Session, cursor: int, limit: int = 100) -> list[JournalEntry]:
    """Rows with id above `cursor`, oldest first: a consumer keeps the last id it handled."""
    rows = session.scalars(
        select(JournalRow).where(JournalRow.id > cursor).order_by(JournalRow.id).limit(limit)
    )
    return [_entry(row) for row in rows]


def latest(
    session: Session,
    limit: int = 20,
    device: str | None = None,
    type_prefixes: tuple[str, ...] = (),
) -> list[JournalEntry]:
    """The newest rows, oldest first; only one device's, or types starting with a prefix."""
    query = select(JournalRow).order_by(JournalRow.id.desc()).limit(limit)
    if device is not None:
        query = query.where(JournalRow.device == device)
    if type_prefixes:
        query = query.where(or_(*(JournalRow.type.startswith(p) for p in type_prefixes)))
    return [_entry(row) for row in reversed(list(session.scalars(query)))]


def _rows(session: Session, batch: int = 1000) -> Iterator[JournalRow]:
    after = None
    while True:
        query = select(JournalRow).order_by(JournalRow.id).limit(batch)
        if after is not None:
            query = query.where(JournalRow.id > after)
        rows = list(session.scalars(query))
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id


def verify(session: Session) -> VerifyResult:
    """Walk the chain from the first row; stop at the first row that breaks it."""
    checked, previous_id, expected_prev = 0, None, GENESIS_HASH
    for row in _rows(session):
        problem = _problem(row, previous_id, expected_prev)
        if problem is not None:
            return VerifyResult(checked, previous_id, expected_prev, row.id, problem)
        checked, previous_id, expected_prev = checked + 1, row.id, row.hash
    return VerifyResult(checked, previous_id, expected_prev)


def _problem(row: JournalRow, previous_id: int | None, expected_prev: str) -> str | None:
    digest = row_hash(
        row.id, row.at_utc, row.type, row.actor, row.bay, row.device, row.data, row.prev_hash
    )
    if digest != row.hash:
        return f"row {row.id}: hash does not match its contents (edited)"
    if row.prev_hash != expected_prev:
        if previous_id is None:
            return f"row {row.id}: the first row does not start the chain (rows before it deleted)"
        return (
            f"row {row.id}: previous-hash link broken after row {previous_id} "
            "(a row was deleted or inserted)"
        )
    expected_id = 1 if previous_id is None else previous_id + 1
    if row.id != expected_id:
        return (
            f"row {row.id}: ids jump from {previous_id or 0} (rows deleted and the chain re-linked)"
        )
    return None

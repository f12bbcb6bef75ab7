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

Reading and verifying use plain rows, never ORM objects, and SQLAlchemy is imported only by
`append`: the CLI reads the journal through stdlib sqlite3 and starts in a fraction of the
time. Each intact `dock audit verify` records a checkpoint (the last row and its hash), and
the next one starts there, so a daily check costs what was added since.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dock.db.database import APPENDED_EVENTS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sqlalchemy.orm import Session

    from dock.clock import Clock
    from dock.db.database import Database
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
class Checkpoint:
    """A verify that found the chain intact up to row_id, whose hash was row_hash."""

    row_id: int
    row_hash: str
    verified_at_utc: datetime


@dataclass(frozen=True)
class VerifyResult:
    rows_checked: int
    last_id: int | None
    last_hash: str
    first_broken_id: int | None = None
    problem: str | None = None  # one line naming the first broken row
    first_id: int | None = None  # the first row checked (None: there was nothing to check)
    since: Checkpoint | None = None  # where an incremental verify started; None: from row 1

    @property
    def is_intact(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem is not None:
            return f"journal broken: {self.problem}"
        span = "nothing new" if self.first_id is None else f"rows {self.first_id}-{self.last_id}"
        if self.since is None:
            origin = "from the first row"
        else:
            moment = self.since.verified_at_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
            origin = f"after row {self.since.row_id}, verified {moment}"
        return (
            f"journal intact: {self.rows_checked} rows checked ({span}, {origin}), "
            f"head {self.last_hash[:16]}"
        )


def canonical_json(value: Any) -> str:
    """The one serialization that is hashed: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# canonical_json without json.dumps' per-call set-up, for the verify loop (same output).
_encode_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
).encode


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
    from sqlalchemy import select, text

    from dock.db.models import JournalRow

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
        session.add(
            JournalRow(
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
        )
        session.flush()
    session.info.setdefault(APPENDED_EVENTS, []).append(event)
    return JournalEntry(
        id_, at.astimezone(UTC), event.type, actor, event.bay, event.device,
        json.loads(data_json), prev_hash, digest,
    )  # fmt: skip


def record(db: Database, event: Event, *, actor: str, clock: Clock) -> JournalEntry:
    """`event` alone in its own transaction, at the clock's time: a step that changes nothing
    else (a staging, a batch's result, technician mode asked or left)."""
    with db.transaction() as session:
        return append(session, event, actor=actor, at=clock.now_utc())


# -- reading: plain rows through the DB-API cursor, never ORM objects --------------------------
# A journal holds a million rows after a year or two; an ORM object per row made `dock audit
# verify` take a minute. Every reader below takes either a Session (inside the caller's
# transaction) or a plain DB-API connection (the CLI's sqlite3 one, without SQLAlchemy).

COLUMNS = "id, at_utc, type, actor, bay, device, data, prev_hash, hash"
Raw = Any  # a DB-API connection (sqlite3.Connection; psycopg's works too)


def _raw(source: Session | Raw) -> tuple[Raw, str]:
    """The DB-API connection under `source` and its placeholder ('?' or '%s')."""
    if isinstance(source, sqlite3.Connection):
        return source, "?"
    connection = source.connection()  # a Session: its transaction's own connection
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    return connection.connection.driver_connection, mark


def _moment(value: Any) -> datetime:
    """A stored at_utc as an aware UTC datetime (SQLite keeps naive UTC text)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _entry(row: Sequence[Any]) -> JournalEntry:
    id_, at, type_, actor, bay, device, data, prev_hash, digest = row
    return JournalEntry(
        id_, _moment(at), type_, actor, bay, device, json.loads(data), prev_hash, digest
    )


def _select(
    source: Session | Raw, where: str, order: str, limit: int, *params: Any, table: str = "journal"
) -> list:
    raw, mark = _raw(source)
    if mark != "?":
        table = table.split(" INDEXED BY ")[0]  # SQLite's hint; other databases plan alone
    sql = f"SELECT {COLUMNS} FROM {table} {where} ORDER BY {order} LIMIT ?".replace("?", mark)
    cursor = raw.cursor()
    try:
        cursor.execute(sql, (*params, int(limit)))
        return cursor.fetchall()
    finally:
        cursor.close()


def read_after(source: Session | Raw, cursor: int, limit: int = 100) -> list[JournalEntry]:
    """Rows with id above `cursor`, oldest first: a consumer keeps the last id it handled."""
    return [_entry(r) for r in _select(source, "WHERE id > ?", "id", limit, cursor)]


def latest(
    source: Session | Raw,
    limit: int = 20,
    device: str | None = None,
    type_prefixes: tuple[str, ...] = (),
) -> list[JournalEntry]:
    """The newest rows, oldest first; only one device's, or types starting with a prefix."""
    where, params = latest_filter(device, type_prefixes)
    rows = _select(
        source, where, "id DESC", limit, *params, table=latest_table(device, type_prefixes)
    )
    return [_entry(r) for r in reversed(rows)]


def latest_table(device: str | None, type_prefixes: tuple[str, ...]) -> str:
    """Types alone: through their index, even when SQLite guesses that walking back is cheaper.

    Walking the journal back from its head stops after `limit` matches, but a rare type
    (a registration) would walk a million rows; the type index reads only the matches.
    """
    if device is None and type_prefixes:
        return "journal INDEXED BY ix_journal_type_at"
    return "journal"


def latest_filter(device: str | None, type_prefixes: tuple[str, ...]) -> tuple[str, list[str]]:
    """The WHERE clause of `latest`: prefixes as ranges (LIKE cannot use the type index)."""
    clauses, params = [], []
    if device is not None:
        clauses.append("device = ?")
        params.append(device)
    if type_prefixes:
        clauses.append("(" + " OR ".join("(type >= ? AND type < ?)" for _ in type_prefixes) + ")")
        for prefix in type_prefixes:
            params += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


# -- verifying ---------------------------------------------------------------------------------


def verify(source: Session | Raw, since: Checkpoint | None = None) -> VerifyResult:
    """Walk the chain from the first row, or from after `since`; stop at the first break.

    From a checkpoint, its row must still carry the hash it had when it was verified:
    someone who edits an older row and recomputes every hash after it changes that one.
    An edit before the checkpoint that leaves it alone is found only by a full verify.
    """
    raw, mark = _raw(source)
    previous_id, expected_prev = None, GENESIS_HASH
    if since is not None:
        rows = _select(raw, "WHERE id = ?", "id", 1, since.row_id)
        if not rows or rows[0][8] != since.row_hash or _digest(rows[0]) != since.row_hash:
            moment = since.verified_at_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
            return VerifyResult(
                0, None, GENESIS_HASH, since.row_id,
                f"row {since.row_id}: no longer what was verified on {moment} "
                "(edited or deleted since); run `dock audit verify --full`",
                since=since,
            )  # fmt: skip
        previous_id, expected_prev = since.row_id, since.row_hash
    if isinstance(raw, sqlite3.Connection):
        return _walk_sqlite(raw, previous_id, expected_prev, since)
    cursor = raw.cursor()
    try:
        cursor.execute(
            f"SELECT {COLUMNS} FROM journal WHERE id > {mark} ORDER BY id", (previous_id or 0,)
        )
        return _walk(iter(lambda: cursor.fetchmany(2000), []), previous_id, expected_prev, since)
    finally:
        cursor.close()


# SQLite renders each row's canonical form itself (json_array escapes as canonical_json does)
# and Python only hashes it: a third faster over a million rows than building the list here.
# A row SQLite cannot render so (a blob, a time not in the stored text form) comes back NULL,
# and any row that does not match is judged again by _problem, so the verdict is always
# canonical_json's own.
_SQLITE_CANONICAL = (
    "SELECT id, prev_hash, hash, CASE WHEN 'blob' NOT IN (typeof(type), typeof(actor), "
    "typeof(bay), typeof(device), typeof(data), typeof(prev_hash)) AND typeof(id) = 'integer' "
    "AND typeof(at_utc) = 'text' AND length(at_utc) = 26 AND substr(at_utc, 11, 1) = ' ' "
    "THEN json_array(id, substr(at_utc, 1, 10) || 'T' || substr(at_utc, 12) || '+00:00', "
    "type, actor, bay, device, data, prev_hash) END FROM journal WHERE id > ? ORDER BY id"
)


def _walk_sqlite(
    raw: sqlite3.Connection, previous_id: int | None, expected_prev: str, since: Checkpoint | None
) -> VerifyResult:
    checked, first_id, sha256 = 0, None, hashlib.sha256
    try:
        cursor = raw.execute(_SQLITE_CANONICAL, (previous_id or 0,))
    except sqlite3.OperationalError:  # an SQLite without JSON functions
        query = f"SELECT {COLUMNS} FROM journal WHERE id > ? ORDER BY id"
        rows = raw.execute(query, (previous_id or 0,))
        return _walk(iter(lambda: rows.fetchmany(2000), []), previous_id, expected_prev, since)
    for batch in iter(lambda: cursor.fetchmany(2000), []):
        for id_, prev_hash, digest, canonical in batch:
            expected_id = 1 if previous_id is None else previous_id + 1
            if (
                canonical is None
                or prev_hash != expected_prev
                or id_ != expected_id
                or sha256(canonical.encode("utf-8")).hexdigest() != digest
            ):
                [row] = _select(raw, "WHERE id = ?", "id", 1, id_)
                problem = _problem(row, previous_id, expected_prev)
                if problem is not None:
                    return VerifyResult(
                        checked, previous_id, expected_prev, id_, problem, first_id, since
                    )
            if first_id is None:
                first_id = id_
            checked, previous_id, expected_prev = checked + 1, id_, digest
    return VerifyResult(checked, previous_id, expected_prev, None, None, first_id, since)


def _walk(
    batches: Iterable[list[Any]],
    previous_id: int | None,
    expected_prev: str,
    since: Checkpoint | None,
) -> VerifyResult:
    """The tight loop: hash each plain row exactly as `append` did, compare, link."""
    checked, first_id, sha256, encode = 0, None, hashlib.sha256, _encode_canonical
    for batch in batches:
        for row in batch:
            id_, at, type_, actor, bay, device, data, prev_hash, digest = row
            iso: str | None
            if type(at) is str and len(at) == 26 and at[10] == " ":
                iso = f"{at[:10]}T{at[11:]}+00:00"  # SQLite's naive UTC text, microseconds
            else:
                iso = _iso_or_none(at)
            contents = [id_, iso, type_, actor, bay, device, data, prev_hash]
            expected_id = 1 if previous_id is None else previous_id + 1
            if (
                iso is None
                or sha256(encode(contents).encode("utf-8")).hexdigest() != digest
                or prev_hash != expected_prev
                or id_ != expected_id
            ):
                problem = _problem(row, previous_id, expected_prev)
                return VerifyResult(
                    checked, previous_id, expected_prev, id_, problem, first_id, since
                )
            if first_id is None:
                first_id = id_
            checked, previous_id, expected_prev = checked + 1, id_, digest
    return VerifyResult(checked, previous_id, expected_prev, None, None, first_id, since)


def _iso_or_none(value: Any) -> str | None:
    try:
        return _iso(_moment(value))
    except (TypeError, ValueError):
        return None


def _digest(row: Sequence[Any]) -> str | None:
    """The hash `append` gave a row with these contents; None if its time is not a time."""
    id_, at, type_, actor, bay, device, data, prev_hash, _stored_hash = row
    iso = _iso_or_none(at)
    if iso is None:
        return None
    contents = [id_, iso, type_, actor, bay, device, data, prev_hash]
    return hashlib.sha256(canonical_json(contents).encode("utf-8")).hexdigest()


def _problem(row: Sequence[Any], previous_id: int | None, expected_prev: str) -> str | None:
    """What is wrong with this row, in one line; None when it is fine."""
    id_, at, prev_hash, digest = row[0], row[1], row[7], row[8]
    if _iso_or_none(at) is None:
        return f"row {id_}: its time {at!r} is not a time (edited)"
    if _digest(row) != digest:
        return f"row {id_}: hash does not match its contents (edited)"
    if prev_hash != expected_prev:
        if previous_id is None:
            return f"row {id_}: the first row does not start the chain (rows before it deleted)"
        return (
            f"row {id_}: previous-hash link broken after row {previous_id} "
            "(a row was deleted or inserted)"
        )
    expected_id = 1 if previous_id is None else previous_id + 1
    if id_ != expected_id:
        return f"row {id_}: ids jump from {previous_id or 0} (rows deleted and the chain re-linked)"
    return None


# -- checkpoints: where the last intact verify ended -------------------------------------------


def last_checkpoint(source: Session | Raw) -> Checkpoint | None:
    raw, _mark = _raw(source)
    row = raw.execute(
        "SELECT row_id, row_hash, verified_at_utc FROM journal_checkpoints ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else Checkpoint(row[0], row[1], _moment(row[2]))


def record_checkpoint(
    source: Session | Raw, result: VerifyResult, *, is_full: bool, at: datetime
) -> None:
    """Remember an intact verify's end, in the caller's transaction (the next one starts there)."""
    if not result.is_intact or result.last_id is None:
        return  # a broken chain is no place to start from; an empty one has no row to name
    raw, mark = _raw(source)
    stored_at = at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    cursor = raw.cursor()
    try:
        cursor.execute(
            "INSERT INTO journal_checkpoints (row_id, row_hash, first_checked_id, rows_checked, "
            f"is_full, verified_at_utc) VALUES ({', '.join([mark] * 6)})",
            (
                result.last_id,
                result.last_hash,
                result.first_id,
                result.rows_checked,
                is_full,
                stored_at,
            ),
        )
    finally:
        cursor.close()

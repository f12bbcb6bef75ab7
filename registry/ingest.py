"""The registry's consumer: one MQTT message in, at most one transaction out.

Every payload is hostile. `firmware_bridge.reporting.decode` refuses malformed JSON, a wrong
schema version, a payload over the size limit and a dock id in the payload that does not
match the topic; the refusal is one logged line and nothing is stored. That the TOPIC's dock
is the dock that sent it is the broker's part: its ACL lets each dock's credentials write
only `<prefix>/<its id>/#` (registry/broker/acl), so a topic cannot be forged from another
dock's credentials.

Idempotent: (dock_id, row_id) is unique among held rows; a duplicate is dropped inside the
same transaction that found it. A row id already held with a DIFFERENT hash (the dock's
journal was rewritten, truncated and regrown, or recomputed) is kept beside the held row as
evidence and raises chain_mismatch; the held row is never overwritten.

Chain checks are serialised per dock: the transaction first locks the dock's row (SELECT
... FOR UPDATE on PostgreSQL; on SQLite every write transaction holds the database's write
lock from BEGIN IMMEDIATE), then stores the row and advances the verified head.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dock.clock import Clock
from dock.journal import canonical_json
from firmware_bridge import reporting
from registry import chain, derived
from registry.alerts import raise_alert
from registry.models import BayStatus, Dock, Row

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"  # same row id, different hash: kept as evidence, alerted
    REFUSED = "refused"
    UPDATED = "updated"  # availability, status, bay state
    STALE = "stale"  # a retained state older than the one held


@dataclass(frozen=True)
class Ingestor:
    """What the consumer needs: where to store, the topic prefix, the clock, known keys."""

    sessions: sessionmaker[Session]
    prefix: str
    clock: Clock
    public_keys: Mapping[str, str]  # dock id -> hex raw Ed25519 key from the registry config
    max_payload_bytes: int = reporting.MAX_PAYLOAD_BYTES
    on_stored: Callable[[str, Outcome], None] | None = None

    def consume(self, topic: str, payload: bytes) -> Outcome:
        """Decode, check and store one message; refusals are logged in one line."""
        try:
            doc = reporting.decode(topic, payload, self.prefix, max_bytes=self.max_payload_bytes)
        except reporting.ReportRejected as refused:
            log.warning("refused a message on %.200r: %s", topic, refused.reason)
            return Outcome.REFUSED
        for attempt in range(3):
            try:
                with self.sessions.begin() as session:
                    outcome = self._store(session, doc)
                break
            except reporting.ReportRejected as refused:  # rolled back: nothing stored
                log.warning("refused a message on %.200r: %s", topic, refused.reason)
                return Outcome.REFUSED
            except IntegrityError:
                # Two workers created the same dock (or alert) row at once: the other won.
                if attempt == 2:
                    raise
        if self.on_stored is not None:
            self.on_stored(doc["dock"], outcome)
        return outcome

    def consume_batch(self, messages: list[tuple[str, bytes]]) -> list[Outcome]:
        """Decode, check and store many messages in ONE transaction (one commit, one fsync).

        The docks are locked in sorted order, so two workers' batches never deadlock; each
        dock's messages keep their arrival order. If anything in the batch fails, the whole
        transaction rolls back and every message goes through `consume` alone, so one bad
        message costs speed, never a row. A database that is down raises OperationalError
        to the caller, which keeps the messages unacknowledged and tries again.
        """
        outcomes: list[Outcome | None] = [None] * len(messages)
        decoded: list[tuple[int, dict[str, Any]]] = []
        for index, (topic, payload) in enumerate(messages):
            try:
                doc = reporting.decode(
                    topic, payload, self.prefix, max_bytes=self.max_payload_bytes
                )
            except reporting.ReportRejected as refused:
                log.warning("refused a message on %.200r: %s", topic, refused.reason)
                outcomes[index] = Outcome.REFUSED
            else:
                decoded.append((index, doc))
        decoded.sort(key=lambda item: item[1]["dock"])  # stable: arrival order per dock
        try:
            with self.sessions.begin() as session:
                touched: dict[str, tuple[Dock, list[int]]] = {}
                for index, doc in decoded:
                    outcomes[index] = self._store(session, doc, touched=touched)
                now = self.clock.now_utc()
                for dock, row_ids in touched.values():  # once per dock per batch
                    derived.held_rows_against_checkpoints(session, dock, row_ids, now)
                    chain.advance(session, dock, now)
        except OperationalError:
            raise
        except Exception:  # noqa: BLE001 - a refusal or a race inside the batch: one by one
            return [
                self.consume(topic, payload) if outcome is not Outcome.REFUSED else outcome
                for (topic, payload), outcome in zip(messages, outcomes, strict=True)
            ]
        if self.on_stored is not None:
            for index, doc in decoded:
                self.on_stored(doc["dock"], outcomes[index])  # type: ignore[arg-type]
        return [outcome or Outcome.REFUSED for outcome in outcomes]

    def _store(
        self,
        session: Session,
        doc: dict[str, Any],
        touched: dict[str, tuple[Dock, list[int]]] | None = None,
    ) -> Outcome:
        """Store one message; with `touched`, the caller finishes each dock's rows per batch
        (their checkpoint cross-check and the chain's advance), as `store_row` says."""
        now = self.clock.now_utc()
        held_lock = touched.get(doc["dock"]) if touched is not None else None
        if held_lock is not None:  # locked earlier in this batch's transaction
            dock = held_lock[0]
        else:
            dock = lock_dock(session, doc["dock"], self.public_keys.get(doc["dock"]))
        kind = doc["kind"]
        if kind == "journal_row":
            if touched is None:
                return store_row(session, dock, doc["row"], now)
            touched.setdefault(dock.id, (dock, []))[1].append(doc["row"]["id"])
            return store_row(session, dock, doc["row"], now, finish=False)
        if kind == "availability":
            dock.availability = doc["availability"]
            dock.availability_at = now
            return Outcome.UPDATED
        at = _parse_at(doc["at"])
        if kind == "status":
            if dock.status_at is not None and at <= dock.status_at:
                return Outcome.STALE
            dock.status_json, dock.status_at = doc, at
            return Outcome.UPDATED
        held = session.get(BayStatus, (dock.id, doc["bay"]), with_for_update=True)
        if held is None:
            session.add(BayStatus(dock_id=dock.id, bay=doc["bay"], state=doc, at=at))
            return Outcome.UPDATED
        if at <= held.at:
            return Outcome.STALE
        held.state, held.at = doc, at
        return Outcome.UPDATED


def lock_dock(session: Session, dock_id: str, configured_key: str | None) -> Dock:
    """The dock's row, locked for this transaction; created on its first message."""
    dock = session.get(Dock, dock_id, with_for_update=True)
    if dock is None:
        with session.begin_nested():
            session.add(
                Dock(
                    id=dock_id,
                    verified_head_id=0,
                    public_key=configured_key,
                    public_key_source="config" if configured_key else None,
                )
            )
        dock = session.get(Dock, dock_id, with_for_update=True)
        assert dock is not None
    elif configured_key and dock.public_key != configured_key:
        dock.public_key, dock.public_key_source = configured_key, "config"
    return dock


def store_row(
    session: Session, dock: Dock, row: dict[str, Any], now: datetime, *, finish: bool = True
) -> Outcome:
    """Store one journal row (or drop it as a duplicate) and advance the dock's chain."""
    held = session.scalars(
        select(Row).where(Row.dock_id == dock.id, Row.row_id == row["id"], Row.conflict_no == 0)
    ).one_or_none()
    if held is not None and held.hash == row["hash"]:
        return Outcome.DUPLICATE
    new = Row(
        dock_id=dock.id,
        row_id=row["id"],
        conflict_no=0,
        at_utc=_parse_at(row["at_utc"]),
        type=row["type"],
        actor=row["actor"],
        bay=row["bay"],
        device=row["device"],
        data_json=canonical_json(row["data"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        received_at=now,
    )
    dock.last_row_received_at = now
    if held is not None:
        versions = session.scalars(
            select(Row.hash).where(Row.dock_id == dock.id, Row.row_id == row["id"])
        ).all()
        if row["hash"] in versions:
            return Outcome.DUPLICATE
        new.conflict_no = (
            session.scalar(
                select(func.max(Row.conflict_no)).where(
                    Row.dock_id == dock.id, Row.row_id == row["id"]
                )
            )
            or 0
        ) + 1
        new.chain_ok = False
        session.add(new)
        raise_alert(
            session,
            dock.id,
            chain.CHAIN_MISMATCH,
            f"row {row['id']}",
            f"row {row['id']} arrived again with a different hash: the dock's journal was "
            "rewritten, truncated and regrown, or recomputed",
            now,
        )
        return Outcome.CONFLICT
    session.add(new)
    session.flush()
    derived.on_row(session, dock, new, row["data"], now, check_checkpoints=finish)
    if finish:
        chain.advance(session, dock, now)
    return Outcome.STORED


def _parse_at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise reporting.ReportRejected(f"time {text[:40]!r} has no time zone")
    return moment


def decode_data(row: Row) -> dict[str, Any]:
    value = json.loads(row.data_json)
    return value if isinstance(value, dict) else {}

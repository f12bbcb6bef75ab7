"""Each dock's journal chain, verified here row by row as the rows arrive.

Rows may arrive out of order across workers, so they are stored first; the dock's verified
head then advances over consecutive held rows, recomputing each hash with the dock's own
dock.journal.row_hash and checking each prev_hash link. Callers hold the dock's lock
(registry.ingest.lock_dock), so two workers never advance one dock at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dock.journal import GENESIS_HASH, row_hash
from registry.alerts import raise_alert
from registry.models import Dock, Row

CHAIN_MISMATCH = "chain_mismatch"
ADVANCE_CHUNK = 200  # held rows read per query while the head advances


def recomputed_hash(row: Row) -> str:
    return row_hash(
        row.row_id, row.at_utc, row.type, row.actor, row.bay, row.device, row.data_json,
        row.prev_hash,
    )  # fmt: skip


def advance(session: Session, dock: Dock, now: datetime) -> int:
    """Move the verified head over every consecutive held row that links; returns how many.

    A row that does not link (its hash is wrong, or its prev_hash is not the head's hash)
    stops the head there, is marked chain_ok=False and raises chain_mismatch: the rows are
    kept as evidence, nothing after them is verified until a supervisor looks.
    """
    advanced = 0
    while True:
        pending = session.scalars(
            select(Row)
            .where(
                Row.dock_id == dock.id,
                Row.row_id > dock.verified_head_id,
                Row.row_id <= dock.verified_head_id + ADVANCE_CHUNK,
                Row.conflict_no == 0,
            )
            .order_by(Row.row_id)
        ).all()
        walked = _walk(session, dock, pending, now)
        advanced += walked
        if walked < ADVANCE_CHUNK:
            return advanced


def _walk(session: Session, dock: Dock, pending: Sequence[Row], now: datetime) -> int:
    """Verify `pending` (held rows past the head, in id order) while they follow on and link."""
    advanced = 0
    for next_row in pending:
        if next_row.row_id != dock.verified_head_id + 1 or next_row.chain_ok is False:
            return advanced
        expected_prev = dock.verified_head_hash or GENESIS_HASH
        if recomputed_hash(next_row) != next_row.hash:
            why = f"row {next_row.row_id}'s hash does not match its contents"
        elif next_row.prev_hash != expected_prev:
            why = (
                f"row {next_row.row_id} does not extend row {dock.verified_head_id} "
                "(its prev_hash differs)"
            )
        else:
            next_row.chain_ok = True
            dock.verified_head_id = next_row.row_id
            dock.verified_head_hash = next_row.hash
            advanced += 1
            continue
        next_row.chain_ok = False
        raise_alert(session, dock.id, CHAIN_MISMATCH, f"row {next_row.row_id}", why, now)
        return advanced
    return advanced

"""The replicas table: what is queued, what is half uploaded, what is a counted copy.

Why the table and not the journal alone: a confirmed copy must be answerable in one indexed
read (the delete policy asks it for every clip on a docked recorder), and a half-done
multipart upload must survive a restart. Each confirmation or refusal is journaled in the
same transaction as its row, so the table and the journal never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dock import journal
from dock.db.models import Clip, Replica
from dock.events import ClipReplicated, ReplicationRefused, ReplicationRetried
from dock.replication.central import CentralObject, UploadProgress, object_key

ACTOR = "replication"


def is_replicated(session: Session, sha256: str) -> bool:
    """True only when the object store confirmed this SHA-256 under a COMPLIANCE lock."""
    found = session.scalar(select(Replica.confirmed_at_utc).where(Replica.sha256 == sha256))
    return found is not None


def waiting_for_copy(session: Session, device_serial: str) -> list[tuple[str, int]]:
    """(sha256, size) of this recorder's stored clips that have no confirmed central copy."""
    rows = session.execute(
        select(Clip.sha256, Clip.size_bytes)
        .outerjoin(Replica, Replica.sha256 == Clip.sha256)
        .where(Clip.device_serial == device_serial, Replica.confirmed_at_utc.is_(None))
        .order_by(Clip.id)
    )
    return [(sha, int(size)) for sha, size in rows]


def queue(session: Session, sha256: str, size_bytes: int, now: datetime) -> Replica:
    """The replica row for sha256, made when first seen; an existing one is kept as it is."""
    row = session.get(Replica, sha256)
    if row is None:
        row = Replica(sha256=sha256, size_bytes=size_bytes, queued_at_utc=now)
        session.add(row)
        session.flush()
    return row


def pending(session: Session, limit: int = 100) -> list[Replica]:
    """Rows still to upload, oldest first; refused rows wait for a person."""
    return list(
        session.scalars(
            select(Replica)
            .where(Replica.confirmed_at_utc.is_(None), Replica.refused_reason == "")
            .order_by(Replica.queued_at_utc, Replica.sha256)
            .limit(limit)
        )
    )


def backlog(session: Session) -> tuple[int, datetime | None]:
    """How many objects wait for their copy, and since when the oldest has waited."""
    count, oldest = session.execute(
        select(func.count(), func.min(Replica.queued_at_utc)).where(
            Replica.confirmed_at_utc.is_(None)
        )
    ).one()
    return int(count), oldest


def progress_of(row: Replica) -> UploadProgress | None:
    if not row.upload_id:
        return None
    parts = tuple((int(n), str(d)) for n, d in json.loads(row.done_parts or "[]"))
    return UploadProgress(row.upload_id, int(row.part_size_bytes), parts)


def save_progress(session: Session, sha256: str, progress: UploadProgress) -> None:
    row = session.get(Replica, sha256)
    if row is None:
        return
    row.upload_id = progress.upload_id
    row.part_size_bytes = progress.part_size
    row.done_parts = json.dumps([list(p) for p in progress.done_parts])


def confirm(
    session: Session, found: CentralObject, endpoint: str, now: datetime
) -> ClipReplicated | None:
    """Mark the copy confirmed and journal clip.replicated, once; None if it already was."""
    row = session.get(Replica, found.sha256)
    if row is None or row.confirmed_at_utc is not None:
        return None
    assert found.retain_until is not None
    row.confirmed_at_utc = now
    row.checksum = found.checksum_sha256
    row.retain_until = found.retain_until
    row.upload_id, row.done_parts = "", "[]"
    happened = ClipReplicated(
        sha256=found.sha256,
        key=object_key(found.sha256),
        checksum=found.checksum_sha256,
        retain_until=found.retain_until,
        size_bytes=found.size,
        endpoint=endpoint,
    )
    journal.append(session, happened, actor=ACTOR, at=now)
    return happened


def unconfirm(session: Session, sha256: str) -> bool:
    """No longer a copy (lost or changed in the store): the replicator uploads it afresh.
    False if it was not confirmed; the caller journals why."""
    row = session.get(Replica, sha256)
    if row is None or row.confirmed_at_utc is None:
        return False
    row.confirmed_at_utc, row.checksum, row.refused_reason = None, "", ""
    row.upload_id, row.done_parts = "", "[]"
    return True


def refuse(session: Session, sha256: str, reason: str, detail: str, now: datetime) -> None:
    """Never a copy: record why, journal replication.refused, and stop retrying it."""
    row = session.get(Replica, sha256)
    if row is None or row.confirmed_at_utc is not None or row.refused_reason:
        return
    row.refused_reason = f"{reason}: {detail}"
    row.upload_id, row.done_parts = "", "[]"
    journal.append(
        session,
        ReplicationRefused(sha256=sha256, key=object_key(sha256), reason=reason, detail=detail),
        actor=ACTOR,
        at=now,
    )


def retry(session: Session, sha256: str | None, actor: str, now: datetime) -> list[str]:
    """Put refused rows (one, or all with sha256 None) back in the queue, each journaled.

    The half upload of a refused row was dropped with it, so the retry starts afresh; it
    counts only if the store now answers with the checksum and the lock, like any copy."""
    query = select(Replica).where(Replica.confirmed_at_utc.is_(None), Replica.refused_reason != "")
    if sha256 is not None:
        query = query.where(Replica.sha256 == sha256)
    retried = []
    for row in session.scalars(query.order_by(Replica.queued_at_utc, Replica.sha256)):
        journal.append(
            session,
            ReplicationRetried(sha256=row.sha256, previous_reason=row.refused_reason),
            actor=actor,
            at=now,
        )
        row.refused_reason = ""
        retried.append(row.sha256)
    return retried


@dataclass(frozen=True)
class Counts:
    """What `dock replication status` shows: one indexed read of the replicas table."""

    confirmed: int
    waiting: int
    refused: int
    oldest_waiting_utc: datetime | None


def counts(session: Session) -> Counts:
    confirmed = Replica.confirmed_at_utc.is_not(None)
    refused = Replica.confirmed_at_utc.is_(None) & (Replica.refused_reason != "")
    row = session.execute(
        select(
            func.count().filter(confirmed),
            func.count().filter(Replica.confirmed_at_utc.is_(None), Replica.refused_reason == ""),
            func.count().filter(refused),
            func.min(Replica.queued_at_utc).filter(Replica.confirmed_at_utc.is_(None)),
        )
    ).one()
    return Counts(int(row[0]), int(row[1]), int(row[2]), row[3])


def refused_rows(session: Session, limit: int = 20) -> list[tuple[str, str]]:
    """(sha256, reason) of refused rows, oldest first, for a person to look at."""
    rows = session.execute(
        select(Replica.sha256, Replica.refused_reason)
        .where(Replica.confirmed_at_utc.is_(None), Replica.refused_reason != "")
        .order_by(Replica.queued_at_utc, Replica.sha256)
        .limit(limit)
    )
    return [(sha, reason) for sha, reason in rows]

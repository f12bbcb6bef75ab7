"""The docking's part of interruptions: read the recorder's event log, keep its holes.

PROTOCOL.md's docking conversation reads the event log after the listing, from a cursor
saved per recorder. The events and the new cursor are written in one transaction, so a dock
that stops between two dockings (or in the middle of one) neither reads an event twice nor
skips one. The read itself happens outside any transaction: a recorder that stops answering
must not hold the journal's write lock.

After the clips are stored, the timeline is built again from every stored event and clip of
the recorder; each interruption not seen before is journaled (InterruptionFound) with its
row, one whose recorder note has now arrived is journaled as explained, and one unexplained
past the configured limit raises an alert (InterruptionOverdue) once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dock import journal
from dock.clock import Clock
from dock.config import InterruptionSettings
from dock.db.database import Database
from dock.db.models import Clip, EventCursor, InterruptionRow, RecorderEventRow
from dock.events import (
    EventLogRead,
    EventLogShrank,
    InterruptionExplained,
    InterruptionFound,
    InterruptionOverdue,
)
from dock.interruptions.timeline import (
    ClipSpan,
    Explanation,
    Interruption,
    Status,
    build_timeline,
)
from firmware_bridge.client import RecorderClient, RecorderEvent

log = logging.getLogger(__name__)

ACTOR = "dock"
VIA_RECORDER = "recorder"
VIA_DOCK = "dock"


@dataclass(frozen=True)
class EventsRead:
    from_cursor: int
    next_cursor: int
    stored: int  # events new to the dock


def stored_cursor(db: Database, serial: str) -> int:
    with db.transaction() as session:
        row = session.get(EventCursor, serial)
        return 0 if row is None else row.next_cursor


def read_event_log(
    db: Database, client: RecorderClient, serial: str, bay: int, clock: Clock
) -> EventsRead:
    """Read the log from the saved cursor; store the events and the new cursor together."""
    cursor = stored_cursor(db, serial)
    batch = client.read_events(cursor)  # link errors propagate: the docking handles them
    at = clock.now_utc()
    with db.transaction() as session:
        if batch.total < cursor:
            # A wiped or replaced log: its indexes would collide with the stored ones.
            log.warning("bay %d: %s event log has %d < cursor %d", bay, serial, batch.total, cursor)
            shrank = EventLogShrank(bay=bay, device=serial, cursor=cursor, total=batch.total)
            journal.append(session, shrank, actor=ACTOR, at=at)
            return EventsRead(cursor, cursor, 0)
        known = set(
            session.scalars(
                select(RecorderEventRow.log_index).where(
                    RecorderEventRow.device_serial == serial,
                    RecorderEventRow.log_index >= cursor,
                )
            )
        )
        stored = 0
        for event in batch.events:
            if event.index in known or event.index < cursor:
                continue  # a recorder that sends one twice does not make two rows
            known.add(event.index)
            session.add(
                RecorderEventRow(
                    device_serial=serial,
                    log_index=event.index,
                    utc_s=event.utc_s,
                    kind=event.kind,
                    reason=event.reason,
                    clip_path=event.clip_path,
                    read_at_utc=at,
                )
            )
            stored += 1
        row = session.get(EventCursor, serial)
        if row is None:
            row = EventCursor(device_serial=serial, next_cursor=0, total=0, read_at_utc=at)
            session.add(row)
        row.next_cursor, row.total, row.read_at_utc = batch.next_cursor, batch.total, at
        happened = EventLogRead(
            bay=bay,
            device=serial,
            from_cursor=cursor,
            next_cursor=batch.next_cursor,
            count=stored,
            total=batch.total,
        )
        journal.append(session, happened, actor=ACTOR, at=at)
    return EventsRead(cursor, batch.next_cursor, stored)


def stored_events(session: Session, serial: str) -> list[RecorderEvent]:
    rows = session.execute(
        select(
            RecorderEventRow.log_index,
            RecorderEventRow.utc_s,
            RecorderEventRow.kind,
            RecorderEventRow.reason,
            RecorderEventRow.clip_path,
        )
        .where(RecorderEventRow.device_serial == serial)
        .order_by(RecorderEventRow.log_index)
    )
    return [RecorderEvent(*row) for row in rows]


def _stored_clips(session: Session, serial: str) -> tuple[list[ClipSpan], dict[str, str]]:
    """The recorder's stored clips as spans, and each card name's sha256 (for its notes)."""
    rows = session.execute(
        select(
            Clip.source_path,
            Clip.recorded_start_utc,
            Clip.recorded_end_utc,
            Clip.officer_number,
            Clip.sha256,
        ).where(Clip.device_serial == serial)
    )
    spans, hashes = [], {}
    for path, start, end, officer, sha256 in rows:
        spans.append(ClipSpan(path, start, end, officer))
        hashes[path] = sha256
    return spans, hashes


def dock_explanations(session: Session, serial: str) -> list[Explanation]:
    rows = session.scalars(
        select(InterruptionRow).where(
            InterruptionRow.device_serial == serial, InterruptionRow.explained_via == VIA_DOCK
        )
    )
    return [Explanation(r.key, Status(r.status), r.approver, r.note_sha256) for r in rows]


def update_interruptions(
    db: Database, serial: str, bay: int | None, clock: Clock, settings: InterruptionSettings
) -> list[Interruption]:
    """Rebuild the recorder's timeline, journal what is new; its unexplained, oldest first."""
    at = clock.now_utc()
    limit = timedelta(hours=settings.unexplained_alert_hours)
    with db.transaction() as session:
        clips, hashes = _stored_clips(session, serial)
        timeline = build_timeline(
            serial,
            stored_events(session, serial),
            clips,
            gap_tolerance_s=settings.gap_tolerance_s,
            explanations=dock_explanations(session, serial),
        )
        known = {
            r.key: r
            for r in session.scalars(
                select(InterruptionRow).where(InterruptionRow.device_serial == serial)
            )
        }
        for found in timeline.interruptions:
            row = known.get(found.key)
            if row is None:
                row = _insert(session, found, bay, hashes, at)
            else:
                _refresh(session, row, found, bay, hashes, at)
            if (
                row.status == Status.UNEXPLAINED
                and row.overdue_alerted_at_utc is None
                and at - found.start_utc > limit
            ):
                row.overdue_alerted_at_utc = at
                alert = InterruptionOverdue(
                    bay=bay,
                    device=serial,
                    key=found.key,
                    officer_number=found.officer_number,
                    start_utc=found.start_utc,
                    limit_hours=settings.unexplained_alert_hours,
                )
                journal.append(session, alert, actor=ACTOR, at=at)
    return list(timeline.unexplained())


def _recorder_note(found: Interruption, hashes: dict[str, str]) -> str | None:
    if found.status is Status.EXPLAINED_BY_VOICE and found.voice_note_path is not None:
        return hashes.get(found.voice_note_path)
    return None


def _insert(
    session: Session,
    found: Interruption,
    bay: int | None,
    hashes: dict[str, str],
    at: datetime,
) -> InterruptionRow:
    note = _recorder_note(found, hashes)
    row = InterruptionRow(
        key=found.key,
        device_serial=found.device,
        officer_number=found.officer_number,
        start_utc=found.start_utc,
        end_utc=found.end_utc,
        reason_code=found.reason.code,
        found=found.found,
        status=found.status,
        explained_via=VIA_RECORDER if note is not None else "",
        approver=None,
        explanation="",
        note_sha256=note,
        found_at_utc=at,
        explained_at_utc=at if note is not None else None,
    )
    session.add(row)
    happened = InterruptionFound(
        bay=bay,
        device=found.device,
        key=found.key,
        officer_number=found.officer_number,
        start_utc=found.start_utc,
        end_utc=found.end_utc,
        reason_code=found.reason.code,
        reason=found.reason.words(),
        found=found.found,
        status=found.status,
    )
    journal.append(session, happened, actor=ACTOR, at=at)
    return row


def _refresh(
    session: Session,
    row: InterruptionRow,
    found: Interruption,
    bay: int | None,
    hashes: dict[str, str],
    at: datetime,
) -> None:
    """A known interruption: its end may have arrived with later events, its note too."""
    row.end_utc = found.end_utc
    note = _recorder_note(found, hashes)
    if row.status == Status.UNEXPLAINED and note is not None:
        row.status, row.explained_via, row.note_sha256 = found.status, VIA_RECORDER, note
        row.explained_at_utc = at
        happened = InterruptionExplained(
            bay=bay,
            device=found.device,
            key=found.key,
            status=found.status,
            note_sha256=note,
            via=VIA_RECORDER,
        )
        journal.append(session, happened, actor=ACTOR, at=at)

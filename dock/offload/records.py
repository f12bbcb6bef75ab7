"""The offload's records: each a row (clip, quarantine) and its journal row in one transaction.

Kept apart from the copying so that what is written about a clip reads in one place: how it
was verified, the raw bytes of its name, the card's own times and every disagreement with
the recorder's listing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from dock import journal
from dock.bays.machine import ACTOR
from dock.config import RetentionSettings
from dock.db.database import Database
from dock.db.models import Clip, JournalRow, Quarantined
from dock.events import (
    ClipAlreadyStored,
    ClipDeletedFromRecorder,
    ClipDeleteRefused,
    ClipDeleteRequested,
    ClipQuarantined,
    ClipStored,
    ClipVerificationDowngraded,
    DirectoryUnreadable,
    Event,
)
from dock.offload.card_names import ClipFacts
from dock.offload.source import Verification
from dock.retention import policy


@dataclass(frozen=True)
class StoredClip:
    """What the record of one copied file says (the Clip row's evidence columns)."""

    sha256: str
    size_bytes: int
    source_path: str  # the display form; never a host path
    raw_path: str  # Clip.raw_path
    name_encoding: str
    is_listed: bool
    verification: Verification
    verification_reason: str
    facts: ClipFacts
    place: str | None
    card_created_utc: datetime | None
    card_modified_utc: datetime | None


def record_clip(
    db: Database,
    *,
    agency: str,
    dock_id: str,
    bay: int,
    serial: str,
    officer_number: str | None,
    clip: StoredClip,
    handover_limit_hours: float,
    retention: RetentionSettings,
    now: datetime,
    extra_events: tuple[Event, ...] = (),
    offload_confirmed_by: tuple[str, ...] = (),
) -> bool:
    """Commit the clip's row, its retention end and its journal row; False when it was
    already recorded.

    offload_confirmed_by: the two staff who confirmed a two-person offload (003 art.21)."""
    with db.transaction() as session:
        for happened in extra_events:  # e.g. the repair of its damaged stored object
            journal.append(session, happened, actor=ACTOR, at=now)
        if session.scalar(select(Clip.id).where(Clip.sha256 == clip.sha256)) is not None:
            journal.append(
                session,
                ClipAlreadyStored(
                    bay=bay, device=serial, sha256=clip.sha256, source_path=clip.source_path
                ),
                actor=ACTOR,
                at=now,
            )
            return False
        facts = clip.facts
        if facts.start_utc is None:  # no time anywhere: not 1970, not late; the record says so
            start = end = now
            delay_s = 0.0
            is_late = False
        else:
            start, end = facts.start_utc, facts.end_utc or facts.start_utc
            delay = now - end
            delay_s = delay.total_seconds()
            is_late = delay > timedelta(hours=handover_limit_hours)
        disagreements = "; ".join(facts.disagreements)
        stored = Clip(
            agency=agency,
            dock_id=dock_id,
            bay=bay,
            device_serial=serial,
            officer_number=officer_number or facts.card_officer_number,
            recorded_start_utc=start,
            recorded_end_utc=end,
            stored_at_utc=now,
            place=clip.place,
            category=None,
            is_important=facts.is_important,
            size_bytes=clip.size_bytes,
            sha256=clip.sha256,
            source_path=clip.source_path,
            handover_delay_s=delay_s,
            is_late=is_late,
            verification=clip.verification.value,
            verification_reason=clip.verification_reason,
            raw_path=clip.raw_path,
            name_encoding=clip.name_encoding,
            is_listed=clip.is_listed,
            card_created_utc=clip.card_created_utc,
            card_modified_utc=clip.card_modified_utc,
            time_source=facts.time_source,
            metadata_disagreements=disagreements,
            offload_confirmed_by=",".join(offload_confirmed_by),
        )
        session.add(stored)
        policy.store_end(session, retention, stored, now)  # its retention end
        journal.append(
            session,
            ClipStored(
                bay=bay,
                device=serial,
                sha256=clip.sha256,
                size_bytes=clip.size_bytes,
                source_path=clip.source_path,
                recorded_start_utc=start,
                handover_delay_s=delay_s,
                is_late=is_late,
                verification=clip.verification.value,
                verification_reason=clip.verification_reason,
                raw_path=clip.raw_path,
                is_listed=clip.is_listed,
                time_source=facts.time_source,
                metadata_disagreements=facts.disagreements,
            ),
            actor=ACTOR,
            at=now,
        )
        return True


def downgrade(
    db: Database,
    *,
    bay: int,
    serial: str,
    sha256: str,
    source_path: str,
    reason: str,
    now: datetime,
) -> None:
    """Mark a stored clip not verified after all (a late problem), with its journal row."""
    with db.transaction() as session:
        clip = session.scalar(select(Clip).where(Clip.sha256 == sha256))
        if clip is None or clip.verification == Verification.NOT_VERIFIED:
            return
        clip.verification = Verification.NOT_VERIFIED.value
        clip.verification_reason = reason
        journal.append(
            session,
            ClipVerificationDowngraded(
                bay=bay,
                device=serial,
                sha256=sha256,
                source_path=source_path,
                verification=Verification.NOT_VERIFIED.value,
                reason=reason,
            ),
            actor=ACTOR,
            at=now,
        )


def quarantine(
    db: Database,
    *,
    bay: int,
    serial: str,
    source_path: str,
    raw_path: str,
    code: str,
    reason: str,
    now: datetime,
    is_unreadable_dir: bool = False,
) -> None:
    """Record a file left on the recorder; docking twice does not record it twice."""
    with db.transaction() as session:
        already = session.scalar(
            select(Quarantined.id).where(
                Quarantined.device_serial == serial, Quarantined.reason == reason
            )
        )
        if already is not None:
            return
        session.add(
            Quarantined(
                device_serial=serial,
                bay=bay,
                source_path=source_path,
                reason=reason,
                at_utc=now,
                raw_path=raw_path,
                code=code,
            )
        )
        happened: Event
        if is_unreadable_dir:
            happened = DirectoryUnreadable(
                bay=bay, device=serial, source_path=source_path, reason=reason, raw_path=raw_path
            )
        else:
            happened = ClipQuarantined(
                bay=bay, device=serial, source_path=source_path, reason=reason
            )
        journal.append(session, happened, actor=ACTOR, at=now)


@dataclass(frozen=True)
class PendingDeletion:
    sha256: str
    source_path: str
    policy: str


def unconfirmed_deletions(db: Database, serial: str) -> list[PendingDeletion]:
    """Delete requests journaled for this recorder with neither a confirmation nor a refusal
    after them: the dock died (or the link went) between asking and hearing back."""
    kinds = (ClipDeleteRequested.type, ClipDeletedFromRecorder.type, ClipDeleteRefused.type)
    pending: dict[tuple[str, str], PendingDeletion] = {}
    with db.transaction() as session:
        rows = session.execute(
            select(JournalRow.type, JournalRow.data)
            .where(JournalRow.device == serial, JournalRow.type.in_(kinds))
            .order_by(JournalRow.id)
        )
        for kind, data_text in rows:
            data = json.loads(data_text)
            key = (data["sha256"], data["source_path"])
            if kind == ClipDeleteRequested.type:
                pending[key] = PendingDeletion(key[0], key[1], data.get("policy", ""))
            else:
                pending.pop(key, None)
    return list(pending.values())

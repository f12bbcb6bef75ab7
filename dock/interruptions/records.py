"""Explanations given at the dock and exemption records: each a row and its journal entry.

The CLI and the bay's note prompt both come here, so "explained" means the same thing
whoever explained it. Each function changes its rows and appends its journal row in the
caller's session, so both commit together or not at all.

A note is evidence like a clip: copied into the content-addressed store while hashed
(dock.offload.copy.copy_and_hash: fsync'd, read-only, named by its sha256), then linked to
the interruption, whose row names the officer who carried the recorder.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from dock import journal
from dock.db.models import ExemptionRow, InterruptionRow
from dock.errors import DockError
from dock.events import ExemptionRecorded, InterruptionExplained
from dock.interruptions.compliance import ExemptionCategory
from dock.interruptions.timeline import Status
from dock.offload.copy import copy_and_hash
from dock.offload.store import EvidenceStore

VIA_DOCK = "dock"


class UnknownInterruption(DockError):
    pass


class AlreadyExplained(DockError):
    pass


class CannotExplainInWriting(DockError):
    pass


class BadExemption(DockError):
    pass


def require_unexplained(session: Session, key: str) -> InterruptionRow:
    row = session.get(InterruptionRow, key)
    if row is None:
        raise UnknownInterruption(
            f"no interruption {key!r}: list them with `dock interruptions --unexplained`"
        )
    if row.status != Status.UNEXPLAINED:
        raise AlreadyExplained(f"interruption {key} is already {row.status}: nothing changed")
    return row


def keep_note(store: EvidenceStore, path: Path) -> str:
    """Copy a note file into the evidence store while hashing it; its sha256."""
    try:
        size = path.stat().st_size
        source = path.open("rb", buffering=0)
    except OSError as err:
        raise NoteFileUnreadable(f"cannot read {path}: {err.strerror}; check the path") from None
    with source:
        return copy_and_hash(source, size, store, label=path.name).sha256


class NoteFileUnreadable(DockError):
    pass


def explain_by_note(
    session: Session, key: str, sha256: str, *, actor: str, at: datetime, bay: int | None = None
) -> InterruptionRow:
    row = require_unexplained(session, key)
    row.status, row.explained_via, row.note_sha256 = Status.EXPLAINED_BY_VOICE, VIA_DOCK, sha256
    row.explained_at_utc = at
    happened = InterruptionExplained(
        bay=bay,
        device=row.device_serial,
        key=key,
        status=Status.EXPLAINED_BY_VOICE,
        note_sha256=sha256,
    )
    journal.append(session, happened, actor=actor, at=at)
    return row


def explain_in_writing(
    session: Session, key: str, *, approver: str, text: str, actor: str, at: datetime
) -> InterruptionRow:
    """Only for an interruption that did not resume: the rules want the voice otherwise."""
    row = require_unexplained(session, key)
    if row.end_utc is not None:
        raise CannotExplainInWriting(
            f"interruption {key} resumed: the officer states its reason by voice "
            "(record a note at the bay or `dock interruptions attach`)"
        )
    if not approver.strip() or not text.strip():
        raise CannotExplainInWriting("a written explanation needs --approver and --text")
    row.status, row.explained_via = Status.EXPLAINED_IN_WRITING, VIA_DOCK
    row.approver, row.explanation, row.explained_at_utc = approver, text, at
    happened = InterruptionExplained(
        device=row.device_serial,
        key=key,
        status=Status.EXPLAINED_IN_WRITING,
        approver=approver,
        text=text,
    )
    journal.append(session, happened, actor=actor, at=at)
    return row


def add_exemption(
    session: Session,
    *,
    category: str,
    at_utc: datetime,
    place: str,
    officer_number: str,
    approver: str,
    note: str,
    actor: str,
    now: datetime,
) -> ExemptionRow:
    try:
        kind = ExemptionCategory(category)
    except ValueError:
        allowed = ", ".join(c.value for c in ExemptionCategory)
        raise BadExemption(
            f"unknown exemption category {category!r}: use one of {allowed}"
        ) from None
    if at_utc.tzinfo is None:
        raise BadExemption("the exemption's time needs a zone, e.g. 2026-11-23T08:00:00+00:00")
    for name, value in (("place", place), ("officer", officer_number), ("approver", approver)):
        if not value.strip():
            raise BadExemption(f"an exemption needs its {name}: it is a written work record")
    row = ExemptionRow(
        category=kind,
        at_utc=at_utc,
        place=place,
        officer_number=officer_number,
        approver=approver,
        note=note,
        recorded_at_utc=now,
    )
    session.add(row)
    session.flush()  # its id goes into the journal row
    happened = ExemptionRecorded(
        exemption_id=row.id,
        category=kind,
        at_utc=at_utc,
        place=place,
        officer_number=officer_number,
        approver=approver,
        note=note,
    )
    journal.append(session, happened, actor=actor, at=now)
    return row

"""Classification (000 art.8, 001 art.9) set by a custodian, and search over it.

A custodian gives a clip its case name and number, party (person or organisation),
enforcement type, record category (from the agency's checklist, [people]
record_categories) and place. Search filters on any of these by equality and on a range of
recording times; each field has its own index (field, recorded_start_utc, id), so a page of
one filter reads only its rows, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from dock import journal
from dock.db.models import Clip
from dock.errors import DockError
from dock.events import ClipClassified
from dock.i18n import t
from dock.people.marks import marks_by_clip
from dock.people.roles import Actor, Permission, require

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dock.clock import Clock
    from dock.config import RetentionSettings

FIELDS = ("case_name", "case_number", "party", "enforcement_type", "category", "place")
PAGE_SIZE = 50


class ClassificationError(DockError):
    """A classification or search that cannot be done as asked."""


@dataclass(frozen=True)
class Found:
    """One clip of a search page, with the marks it must show wherever it appears."""

    clip_id: int
    recorded_start_utc: datetime
    officer_number: str | None
    device_serial: str
    fields: dict[str, str | None]
    marks: tuple[str, ...]


def classify(
    session: Session,
    actor: Actor,
    clip_id: int,
    changes: dict[str, str | None],
    *,
    categories: tuple[str, ...],
    retention: RetentionSettings,
    clock: Clock,
    why: str = "",
) -> None:
    """Set some classification fields of one clip; the journal row keeps the new values.

    A new case number or category moves the clip's retention end, recomputed in
    the same transaction and journaled with the custodian and `why`.
    """
    require(actor, Permission.CLASSIFY)
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown or not changes:
        raise ClassificationError(
            t("classify by {fields}; got {unknown}", fields=", ".join(FIELDS),
              unknown=", ".join(unknown) or "nothing")
        )  # fmt: skip
    category = changes.get("category")
    if category is not None and category not in categories:
        raise ClassificationError(
            t("category {category} is not in the agency's checklist: {allowed}",
              category=category, allowed=", ".join(categories))
        )  # fmt: skip
    clip = session.get(Clip, clip_id)
    if clip is None:
        raise ClassificationError(t("no clip {clip}; check the number", clip=clip_id))
    for name, value in changes.items():
        setattr(clip, name, value or None)
    happened = ClipClassified(clip_id=clip_id, changes={k: v or None for k, v in changes.items()})
    journal.append(
        session, happened, actor=actor.journal_name, at=clock.now_utc()
    )  # fmt: skip
    if {"case_number", "category"} & set(changes):
        from dock.retention.policy import recompute

        reason = why or t("classified: {fields}", fields=", ".join(sorted(changes)))
        recompute(
            session, retention, clip, actor=actor.journal_name, why=reason, now=clock.now_utc()
        )


def search(
    session: Session,
    filters: dict[str, str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> list[Found]:
    """One page of clips matching every filter, newest recording first."""
    unknown = sorted(set(filters) - set(FIELDS))
    if unknown:
        raise ClassificationError(
            t("search by {fields}; got {unknown}", fields=", ".join(FIELDS),
              unknown=", ".join(unknown))
        )  # fmt: skip
    if page < 1:
        raise ClassificationError(t("pages count from 1"))
    query = select(Clip)
    for name, value in filters.items():
        query = query.where(getattr(Clip, name) == value)
    if since is not None:
        query = query.where(Clip.recorded_start_utc >= since)
    if until is not None:
        query = query.where(Clip.recorded_start_utc < until)
    query = query.order_by(Clip.recorded_start_utc.desc(), Clip.id.desc())
    clips = session.scalars(query.offset((page - 1) * page_size).limit(page_size)).all()
    marks = marks_by_clip(session, [(c.id, c.case_number) for c in clips]) if clips else {}
    return [
        Found(
            clip_id=c.id,
            recorded_start_utc=c.recorded_start_utc,
            officer_number=c.officer_number,
            device_serial=c.device_serial,
            fields={name: getattr(c, name) for name in FIELDS},
            marks=tuple(marks.get(c.id, [])),
        )
        for c in clips
    ]

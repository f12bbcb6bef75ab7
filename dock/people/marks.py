"""Confidentiality marks (000 art.15, 001 art.12, 004 art.16) on a clip or on a whole case."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from dock import journal
from dock.errors import DockError
from dock.events import ConfidentialityMarked
from dock.i18n import t
from dock.people.models import Mark
from dock.people.roles import Actor, Permission, require

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dock.clock import Clock


class MarkName(StrEnum):
    STATE_SECRET = "state_secret"
    COMMERCIAL_SECRET = "commercial_secret"
    PERSONAL_INFORMATION = "personal_information"


class MarkError(DockError):
    """A mark cannot be set as asked."""


def set_mark(
    session: Session,
    actor: Actor,
    mark: str,
    *,
    clip_id: int | None = None,
    case_number: str | None = None,
    reason: str = "",
    clock: Clock,
) -> None:
    require(actor, Permission.MARK)
    if mark not in MarkName.__members__.values():
        raise MarkError(
            t("unknown mark {mark}: use one of {marks}", mark=mark, marks=", ".join(MarkName))
        )
    if (clip_id is None) == (case_number is None):
        raise MarkError(t("mark one clip or one case, not both or neither"))
    now = clock.now_utc()
    session.add(
        Mark(
            clip_id=clip_id,
            case_number=case_number,
            mark=mark,
            set_by=actor.username,
            reason=reason,
            set_at_utc=now,
        )
    )
    happened = ConfidentialityMarked(
        mark=mark, clip_id=clip_id, case_number=case_number, reason=reason
    )
    journal.append(session, happened, actor=actor.journal_name, at=now)


def marks_of(session: Session, clip_ids: list[int], case_numbers: list[str]) -> set[str]:
    """Every mark on these clips or on these cases (a case's mark covers all its clips)."""
    conditions = []
    if clip_ids:
        conditions.append(Mark.clip_id.in_(clip_ids))
    if case_numbers:
        conditions.append(Mark.case_number.in_(case_numbers))
    if not conditions:
        return set()
    return set(session.scalars(select(Mark.mark).where(or_(*conditions))))


def marks_by_clip(session: Session, clips: list[tuple[int, str | None]]) -> dict[int, list[str]]:
    """For a listing: each clip's marks, its own and its case's."""
    ids = [clip_id for clip_id, _ in clips]
    cases = {case for _, case in clips if case}
    rows = session.execute(
        select(Mark.clip_id, Mark.case_number, Mark.mark).where(
            or_(Mark.clip_id.in_(ids), Mark.case_number.in_(cases))
        )
    ).all()
    found: dict[int, set[str]] = {clip_id: set() for clip_id in ids}
    for clip_id, case in clips:
        for row in rows:
            if row.clip_id == clip_id or (case and row.case_number == case):
                found[clip_id].add(row.mark)
    return {clip_id: sorted(marks) for clip_id, marks in found.items()}

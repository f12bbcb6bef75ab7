"""Each clip's retention end: the longest of the periods that apply to it.

Footage not linked to a case keeps the agency's default period; a case's footage is kept as
long as its case file (an open file: no end); a category may set its own period. When
several apply the longest wins, so adding a rule can only keep footage longer. The end is
stored (clip_retention) and recomputed, journaled with who and why, when a clip's case or
category changes or a case file's retention does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select

from dock import journal
from dock.db.models import Clip
from dock.errors import DockError
from dock.events import CaseRetentionSet, RetentionChanged, RetentionComputed
from dock.i18n import t
from dock.retention.models import CaseFile, ClipRetention

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dock.config import RetentionSettings

BATCH = 5000
NO_END = datetime.max.replace(tzinfo=UTC)


class UnknownClip(DockError):
    """A retention command named a clip the dock does not hold."""


class RuleKind(StrEnum):
    DEFAULT = "default"  # footage not linked to a case: the agency's default period
    CATEGORY = "category"  # the clip's category sets its own period
    CASE_FILE = "case_file"  # kept as long as its (closed) case file
    CASE_OPEN = "case_open"  # its case file is open: no end yet


# The stored form of each kind: what clip_retention, the tombstones and the journal hold.
# English and never translated, so a row reads the same whatever the dock's language and
# rows written before rules had kinds parse as they are; `shown` translates at display.
STORED = {
    RuleKind.DEFAULT: "default {days} days",
    RuleKind.CATEGORY: "category {category} {days} days",
    RuleKind.CASE_FILE: "case {case}: kept as its case file",
    RuleKind.CASE_OPEN: "case {case}: kept while the case file is open",
}
_PARSE = {
    kind: re.compile(
        re.escape(form)
        .replace(re.escape("{days}"), r"(?P<days>\d+)")
        .replace(re.escape("{category}"), "(?P<category>.+)")
        .replace(re.escape("{case}"), "(?P<case>.+)")
        + "$"
    )
    for kind, form in STORED.items()
}


@dataclass(frozen=True)
class Rule:
    """Why a clip is kept as long as it is: a kind and its parameters."""

    kind: RuleKind
    days: int | None = None
    category: str | None = None
    case: str | None = None

    @property
    def stored(self) -> str:
        return STORED[self.kind].format(days=self.days, category=self.category, case=self.case)

    @classmethod
    def parse(cls, stored: str) -> Rule | None:
        """The rule a stored text names; None for a text of no known kind."""
        for kind, pattern in _PARSE.items():
            found = pattern.match(stored)
            if found:
                values = found.groupdict()
                days = values.get("days")
                return cls(
                    kind, int(days) if days else None, values.get("category"), values.get("case")
                )
        return None

    def shown(self) -> str:
        """The rule in the agency's language."""
        if self.kind is RuleKind.DEFAULT:
            return t("default period: {days} days", days=self.days)
        if self.kind is RuleKind.CATEGORY:
            return t("category {category}: {days} days", category=self.category, days=self.days)
        if self.kind is RuleKind.CASE_FILE:
            return t("case {case}: kept as long as its case file", case=self.case)
        return t("case {case}: kept while its case file is open", case=self.case)


def shown_rule(stored: str) -> str:
    """A stored rule as the agency reads it; a text of no known kind is shown as it is."""
    rule = Rule.parse(stored)
    return stored if rule is None else rule.shown()


@dataclass(frozen=True)
class RetentionEnd:
    end: datetime | None  # None: kept while its case file is (no end yet)
    rule: Rule


def retention_end(
    recorded_start_utc: datetime,
    category: str | None,
    case: CaseFile | None,
    settings: RetentionSettings,
) -> RetentionEnd:
    """The longest period that applies; an open case file outlasts every period."""
    if case is not None and case.retain_until is None:
        return RetentionEnd(None, Rule(RuleKind.CASE_OPEN, case=case.case_number))
    found: list[RetentionEnd] = []
    if case is None:
        end = recorded_start_utc + timedelta(days=settings.default_days)
        found.append(RetentionEnd(end, Rule(RuleKind.DEFAULT, days=settings.default_days)))
    else:
        assert case.retain_until is not None
        rule = Rule(RuleKind.CASE_FILE, case=case.case_number)
        found.append(RetentionEnd(case.retain_until, rule))
    days = settings.category_days.get(category or "")
    if days is not None:
        end = recorded_start_utc + timedelta(days=days)
        found.append(RetentionEnd(end, Rule(RuleKind.CATEGORY, days=days, category=category)))
    return max(found, key=lambda r: r.end or NO_END)


def compute_missing(
    session: Session, settings: RetentionSettings, actor: str, now: datetime
) -> int:
    """Store an end for every clip without one (clips stored before the offload set retention
    ends); one journal row per call, not per clip.

    Every dry run and purge calls it first, so the usual answer, none missing, comes from
    two counts: a clip row is never deleted (a purge keeps the record) and an end is only
    written beside one, so equal counts mean every clip has its end.
    """
    clips = session.scalar(select(func.count()).select_from(Clip))
    ends = session.scalar(select(func.count()).select_from(ClipRetention))
    if clips == ends:
        return 0
    done = 0
    while True:
        rows = session.execute(
            select(Clip.id, Clip.recorded_start_utc, Clip.category, Clip.case_number)
            .outerjoin(ClipRetention, ClipRetention.clip_id == Clip.id)
            .where(ClipRetention.clip_id.is_(None))
            .limit(BATCH)
        ).all()
        if not rows:
            break
        batch = []
        for clip_id, start, category, case_number in rows:
            end = retention_end(start, category, _case_file(session, case_number), settings)
            batch.append(
                {
                    "clip_id": clip_id,
                    "retention_end": end.end,
                    "rule": end.rule.stored,
                    "computed_at_utc": now,
                }
            )
        session.execute(insert(ClipRetention), batch)
        done += len(batch)
    if done:
        journal.append(session, RetentionComputed(clip_count=done), actor=actor, at=now)
    return done


def store_end(session: Session, settings: RetentionSettings, clip: Clip, now: datetime) -> None:
    """A newly stored clip's end, in the transaction that records it.

    Not journaled on its own: it follows from the clip.stored row and the configured rule
    written beside it; every later change is journaled (`recompute`).
    """
    session.flush()  # the clip's id
    end = retention_end(
        clip.recorded_start_utc, clip.category, _case_file(session, clip.case_number), settings
    )
    session.add(
        ClipRetention(
            clip_id=clip.id, retention_end=end.end, rule=end.rule.stored, computed_at_utc=now
        )
    )


def reclassify(
    session: Session,
    settings: RetentionSettings,
    clip_id: int,
    *,
    case_number: str | None,
    category: str | None,
    actor: str,
    why: str,
    now: datetime,
) -> RetentionEnd:
    """Set a clip's case link and category and recompute its end, journaled with who and why."""
    clip = session.get(Clip, clip_id)
    if clip is None:
        raise UnknownClip(t("no clip {clip} at this dock; `dock clips` lists them", clip=clip_id))
    clip.case_number, clip.category = case_number, category
    return recompute(session, settings, clip, actor=actor, why=why, now=now)


def set_case_retention(
    session: Session,
    settings: RetentionSettings,
    case_number: str,
    retain_until: datetime | None,
    *,
    actor: str,
    why: str,
    now: datetime,
) -> list[RetentionEnd]:
    """Set how long a case file is kept; its clips' ends follow, each journaled."""
    case = session.get(CaseFile, case_number)
    if case is None:
        case = CaseFile(case_number=case_number, set_by=actor, set_at_utc=now)
        session.add(case)
    case.retain_until, case.set_by, case.set_at_utc = retain_until, actor, now
    session.flush()
    event = CaseRetentionSet(case_number=case_number, retain_until=retain_until, why=why)
    journal.append(session, event, actor=actor, at=now)
    linked = session.scalars(select(Clip).where(Clip.case_number == case_number)).all()
    return [recompute(session, settings, clip, actor=actor, why=why, now=now) for clip in linked]


def recompute(
    session: Session,
    settings: RetentionSettings,
    clip: Clip,
    *,
    actor: str,
    why: str,
    now: datetime,
) -> RetentionEnd:
    """A clip's end from its case link and category as they are now, journaled with who and
    why. The case link is the clip's own (clips.case_number, set by classification)."""
    session.flush()
    case = _case_file(session, clip.case_number)
    end = retention_end(clip.recorded_start_utc, clip.category, case, settings)
    row = session.get(ClipRetention, clip.id)
    if row is None:
        row = ClipRetention(clip_id=clip.id)
        session.add(row)
    row.retention_end, row.rule, row.computed_at_utc = end.end, end.rule.stored, now
    event = RetentionChanged(
        clip_id=clip.id,
        case_number=clip.case_number,
        category=clip.category,
        retention_end=end.end,
        rule=end.rule.stored,
        why=why,
    )
    journal.append(session, event, actor=actor, at=now)
    return end


def _case_file(session: Session, case_number: str | None) -> CaseFile | None:
    """The case's file; a case linked before its file's retention was set is open."""
    if not case_number:
        return None
    case = session.get(CaseFile, case_number)
    if case is None:
        return CaseFile(case_number=case_number, retain_until=None)
    return case


def ends_of(session: Session, clip_ids: Iterable[int]) -> dict[int, ClipRetention]:
    rows = session.scalars(select(ClipRetention).where(ClipRetention.clip_id.in_(list(clip_ids))))
    return {r.clip_id: r for r in rows}

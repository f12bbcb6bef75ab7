"""Supervisors' sampling audits: a seeded, reproducible sample of a period's clips.

000 art.16, 003 art.28 and 002 art.17 have supervisors sample recordings at a proportion and
score them against the agency's checklist. The draw is spread over officers (each officer's
clips are sampled at the share, at least one each), and the seed is recorded, so anyone can
draw the same sample again from the same clips and see it was not picked by hand.

An auditor who scores a clip again rescores it: the new score replaces their earlier one in
the report (both stay in the journal, the rescore naming the one it replaces and saying
why). Two auditors' scores of the same clip both count: each is a separate check by a
separate person, and neither may silently overrule the other.
"""

from __future__ import annotations

import math
import os
import random
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select

from dock import journal
from dock.db.models import Clip
from dock.errors import DockError
from dock.events import SampleDrawn, SampleRescored, SampleScored
from dock.i18n import t
from dock.people.roles import Permission, require
from dock.retention.models import AuditSample, AuditSampleClip, AuditScore

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dock.config import RetentionSettings
    from dock.people.roles import Actor


class SampleError(DockError):
    """A sample or score named something that does not exist or is not on the checklist."""


def may_audit(actor: Actor) -> None:
    """Supervisors and auditors draw and score samples (those who read the registers: the
    office director, the leader, the auditor), never the officers whose footage is scored."""
    require(actor, Permission.READ_REGISTER)


def draw(clips: list[tuple[int, str | None]], share: float, seed: int) -> list[int]:
    """The sampled clip ids from (clip_id, officer) pairs: pure, the same for the same seed."""
    by_officer: dict[str, list[int]] = defaultdict(list)
    for clip_id, officer in clips:
        by_officer[officer or ""].append(clip_id)
    rng = random.Random(seed)
    chosen: list[int] = []
    for officer in sorted(by_officer):
        ids = sorted(by_officer[officer])
        chosen += rng.sample(ids, min(len(ids), max(1, math.ceil(share * len(ids)))))
    return sorted(chosen)


def period_clips(session: Session, start: datetime, end: datetime) -> list[tuple[int, str | None]]:
    query = select(Clip.id, Clip.officer_number).where(
        Clip.recorded_start_utc >= start, Clip.recorded_start_utc < end
    )
    return [(clip_id, officer) for clip_id, officer in session.execute(query)]


def draw_sample(
    session: Session,
    settings: RetentionSettings,
    start: datetime,
    end: datetime,
    *,
    seed: int | None,
    actor: str,
    now: datetime,
) -> tuple[AuditSample, list[int]]:
    seed = int.from_bytes(os.urandom(6), "big") if seed is None else seed
    share = settings.sample_share
    chosen = draw(period_clips(session, start, end), share, seed)
    sample = AuditSample(
        period_start=start,
        period_end=end,
        seed=seed,
        share=repr(share),
        drawn_by=actor,
        drawn_at_utc=now,
    )
    session.add(sample)
    session.flush()
    session.execute(
        insert(AuditSampleClip),
        [{"sample_id": sample.id, "clip_id": c} for c in chosen],
    )
    event = SampleDrawn(
        sample_id=sample.id,
        period_start=start,
        period_end=end,
        seed=seed,
        share=share,
        clip_count=len(chosen),
    )
    journal.append(session, event, actor=actor, at=now)
    return sample, chosen


def sample_clips(session: Session, sample_id: int) -> list[int]:
    return list(
        session.scalars(
            select(AuditSampleClip.clip_id)
            .where(AuditSampleClip.sample_id == sample_id)
            .order_by(AuditSampleClip.clip_id)
        )
    )


def score(
    session: Session,
    settings: RetentionSettings,
    sample_id: int,
    clip_id: int,
    *,
    passed: tuple[str, ...],
    failed: tuple[str, ...],
    comment: str,
    actor: str,
    now: datetime,
) -> int:
    """One auditor's checklist answers for one sampled clip; every item must be answered.
    A second score by the same auditor is a rescore, which needs a comment saying why.
    Returns the score's journal row id."""
    if session.get(AuditSampleClip, (sample_id, clip_id)) is None:
        raise SampleError(
            t(
                "clip {clip} is not in sample {sample}; `dock sample show`",
                clip=clip_id,
                sample=sample_id,
            )
        )
    answered = set(passed) | set(failed)
    unknown = sorted(answered - set(settings.checklist))
    if unknown or set(passed) & set(failed):
        raise SampleError(
            t(
                "not on the checklist (or both passed and failed): {unknown}; the items are: {items}",
                unknown=", ".join(unknown) or "-",
                items="; ".join(settings.checklist),
            )
        )
    missing = [item for item in settings.checklist if item not in answered]
    if missing:
        raise SampleError(
            t("answer every checklist item; missing: {items}", items="; ".join(missing))
        )
    earlier = session.scalar(
        select(func.max(AuditScore.entry_id)).where(
            AuditScore.sample_id == sample_id,
            AuditScore.clip_id == clip_id,
            AuditScore.auditor == actor,
        )
    )
    event: SampleScored | SampleRescored
    if earlier is None:
        event = SampleScored(
            sample_id=sample_id, clip_id=clip_id, passed=passed, failed=failed, comment=comment
        )
    elif not comment.strip():
        raise SampleError(
            t(
                "you scored clip {clip} already (journal row {entry}); a rescore replaces that score and needs a comment saying why",
                clip=clip_id,
                entry=earlier,
            )
        )
    else:
        event = SampleRescored(
            sample_id=sample_id, clip_id=clip_id, passed=passed, failed=failed,
            comment=comment, replaces=earlier,
        )  # fmt: skip
    entry = journal.append(session, event, actor=actor, at=now)
    for item in settings.checklist:
        session.add(
            AuditScore(
                sample_id=sample_id,
                clip_id=clip_id,
                item=item,
                is_passed=item in passed,
                comment=comment,
                auditor=actor,
                at_utc=now,
                entry_id=entry.id,
            )
        )
    return entry.id


@dataclass(frozen=True)
class Scoring:
    """One auditor's answers for one clip (the rows one `score` call wrote): each
    checklist item passed or not; replaces and replaced_by name the journal rows of the
    auditor's score before and after it (None: there is none)."""

    entry_id: int | None
    auditor: str
    at_utc: datetime
    comment: str
    answers: tuple[tuple[str, bool], ...]
    replaces: int | None = None
    replaced_by: int | None = None


def scorings(
    session: Session, sample_id: int, clip_id: int | None = None
) -> dict[int, list[Scoring]]:
    """Each clip's scorings in a sample (or one clip's), oldest first."""
    query = select(AuditScore).where(AuditScore.sample_id == sample_id)
    if clip_id is not None:
        query = query.where(AuditScore.clip_id == clip_id)
    rows: dict[tuple[int, str, int | None], list[AuditScore]] = defaultdict(list)
    for row in session.scalars(query.order_by(AuditScore.id)):
        rows[(row.clip_id, row.auditor, row.entry_id)].append(row)
    found: dict[int, list[Scoring]] = defaultdict(list)
    latest: dict[tuple[int, str], int] = {}  # (clip, auditor) -> index of their last scoring
    for (clip, auditor, entry_id), answers in rows.items():
        first = answers[0]
        scoring = Scoring(
            entry_id, auditor, first.at_utc, first.comment,
            tuple((a.item, a.is_passed) for a in answers),
        )  # fmt: skip
        before = latest.get((clip, auditor))
        if before is not None:
            earlier = found[clip][before]
            found[clip][before] = replace(earlier, replaced_by=entry_id)
            scoring = replace(scoring, replaces=earlier.entry_id)
        latest[(clip, auditor)] = len(found[clip])
        found[clip].append(scoring)
    return dict(found)

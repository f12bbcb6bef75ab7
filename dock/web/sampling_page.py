"""Supervisors' sampling audits in the pages: draw a period's sample, see its clips per
officer, and score each against the agency's checklist ([retention] checklist).

Drawing and scoring are the calls `dock sample draw|score` make (dock.retention.sampling),
with its role rule (`may_audit`); the seed is shown so anyone can draw the same sample
again, and each score is journaled there and counted in the period report. A clip the
auditor scored before is rescored (a comment says why), and its earlier score is shown
as replaced.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from starlette.responses import Response
from starlette.routing import Route

from dock.db.models import Clip
from dock.i18n import t
from dock.period_report.numbers import quarter_of
from dock.retention import sampling
from dock.retention.models import AuditSample, AuditSampleClip, AuditScore
from dock.retention.sampling import SampleError
from dock.web.clips import agency_moment
from dock.web.site import Ask, page, redirect

if TYPE_CHECKING:
    from sqlalchemy.orm import InstrumentedAttribute, Session

SHOWN = 50


def samples_page(ask: Ask) -> Response:
    sampling.may_audit(ask.actor)
    with ask.site.db.transaction() as session:
        samples = list(
            session.scalars(select(AuditSample).order_by(AuditSample.id.desc()).limit(SHOWN))
        )
        ids = [s.id for s in samples]
        sizes = _count(session, AuditSampleClip.sample_id, AuditSampleClip.clip_id, ids)
        scored = _count(session, AuditScore.sample_id, AuditScore.clip_id, ids)
        session.expunge_all()
    start, end = quarter_of(ask.site.clock.now_utc())
    return ask.render(
        "samples.html",
        samples=samples,
        sizes=sizes,
        scored=scored,
        since=start.strftime("%Y-%m-%d"),
        until=end.strftime("%Y-%m-%d"),
        share=ask.site.settings.retention.sample_share,
    )


def _count(
    session: Session,
    sample_col: InstrumentedAttribute[int],
    clip_col: InstrumentedAttribute[int],
    ids: list[int],
) -> dict[int, int]:
    """Distinct clips per sample (sampled, or scored at least once)."""
    query = (
        select(sample_col, func.count(func.distinct(clip_col)))
        .where(sample_col.in_(ids))
        .group_by(sample_col)
    )
    return {sample_id: count for sample_id, count in session.execute(query)}


def draw(ask: Ask) -> Response:
    sampling.may_audit(ask.actor)
    zone = ask.site.settings.people.time_zone
    start = agency_moment(ask.form.get("since", ""), zone)
    end = agency_moment(ask.form.get("until", ""), zone)
    if start is None or end is None or start >= end:
        raise SampleError(t("give the period's first day and the day after its last"))
    seed_text = ask.form.get("seed", "").strip()
    if seed_text and not seed_text.isdigit():
        raise SampleError(t("the seed is a whole number, as shown with a drawn sample"))
    with ask.site.db.transaction() as session:
        sample, _ = sampling.draw_sample(
            session, ask.site.settings.retention, start, end,
            seed=int(seed_text) if seed_text else None, actor=ask.actor.journal_name,
            now=ask.site.clock.now_utc(),
        )  # fmt: skip
        sample_id = sample.id
    return redirect(f"/samples/{sample_id}")


def sample_page(ask: Ask) -> Response:
    sampling.may_audit(ask.actor)
    sample_id = ask.param("sample_id")
    with ask.site.db.transaction() as session:
        sample = _sample(session, sample_id)
        clip_ids = sampling.sample_clips(session, sample_id)
        clips = list(session.scalars(select(Clip).where(Clip.id.in_(clip_ids))))
        scorings = sampling.scorings(session, sample_id)
        session.expunge_all()
    by_officer: dict[str, list[Clip]] = defaultdict(list)
    for clip in sorted(clips, key=lambda c: (c.officer_number or "", c.id)):
        by_officer[clip.officer_number or ""].append(clip)
    return ask.render("sample.html", sample=sample, by_officer=dict(by_officer), scorings=scorings)


def score_form(ask: Ask) -> Response:
    sampling.may_audit(ask.actor)
    sample_id, clip_id = ask.param("sample_id"), ask.param("clip_id")
    with ask.site.db.transaction() as session:
        sample = _sample(session, sample_id)
        clip = session.get(Clip, clip_id)
        if clip is None or clip_id not in sampling.sample_clips(session, sample_id):
            raise SampleError(t("clip {clip} is not in sample {sample}", clip=clip_id,
                                sample=sample_id))  # fmt: skip
        scorings = sampling.scorings(session, sample_id, clip_id).get(clip_id, [])
        session.expunge_all()
    return ask.render(
        "score.html",
        sample=sample,
        clip=clip,
        scorings=scorings,
        is_rescore=any(s.auditor == ask.actor.journal_name for s in scorings),
        checklist=ask.site.settings.retention.checklist,
    )


def score(ask: Ask) -> Response:
    sampling.may_audit(ask.actor)
    sample_id, clip_id = ask.param("sample_id"), ask.param("clip_id")
    checklist = ask.site.settings.retention.checklist
    answers = {item: ask.form.get(f"item{n}", "") for n, item in enumerate(checklist)}
    with ask.site.db.transaction() as session:
        sampling.score(
            session, ask.site.settings.retention, sample_id, clip_id,
            passed=tuple(i for i, a in answers.items() if a == "pass"),
            failed=tuple(i for i, a in answers.items() if a == "fail"),
            comment=ask.form.get("comment", ""), actor=ask.actor.journal_name,
            now=ask.site.clock.now_utc(),
        )  # fmt: skip
    return redirect(f"/samples/{sample_id}?scored={clip_id}#clip-{clip_id}")


def _sample(session: Session, sample_id: int) -> AuditSample:
    sample = session.get(AuditSample, sample_id)
    if sample is None:
        raise SampleError(t("no sample {sample}; the sampling page lists them", sample=sample_id))
    return sample


ROUTES = [
    Route("/samples", page(samples_page)),
    Route("/samples", page(draw), methods=["POST"]),
    Route("/samples/{sample_id:int}", page(sample_page)),
    Route("/samples/{sample_id:int}/clips/{clip_id:int}", page(score_form)),
    Route("/samples/{sample_id:int}/clips/{clip_id:int}", page(score), methods=["POST"]),
]
NAV = [("/samples", "Sampling audits")]

"""Sampling audits: the same seed gives the same sample, spread over officers, scores journaled."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dock.journal import read_after
from dock.retention import sampling
from tests.integration.retention.conftest import NOW

AUDITOR = "staff:zhao.auditor"
PERIOD = (NOW - timedelta(days=90), NOW)


def test_the_same_seed_gives_the_same_sample():
    clips = [(i, f"00{i % 3}") for i in range(1, 301)]
    first = sampling.draw(clips, 0.1, seed=20261201)
    assert sampling.draw(list(reversed(clips)), 0.1, seed=20261201) == first
    assert sampling.draw(clips, 0.1, seed=7) != first


def test_a_sample_is_spread_over_officers_at_the_share():
    clips = [(i, "001") for i in range(1, 101)] + [(i, "002") for i in range(101, 111)]
    chosen = sampling.draw(clips, 0.1, seed=1)
    assert len([c for c in chosen if c <= 100]) == 10
    assert len([c for c in chosen if c > 100]) == 1  # a small share still gets one


def test_a_drawn_sample_records_its_seed_and_redraws_the_same(make_records):
    records = make_records(sample_share=0.5)
    for officer in ("001", "002"):
        for days in (1, 2, 3, 4):
            records.add_clip(days_old=days, officer=officer)
    records.add_clip(days_old=200)  # outside the period
    with records.db.transaction() as session:
        sample, chosen = sampling.draw_sample(
            session, records.settings.retention, *PERIOD, seed=None, actor=AUDITOR, now=NOW
        )
        seed = sample.seed
        _, again = sampling.draw_sample(
            session, records.settings.retention, *PERIOD, seed=seed, actor=AUDITOR, now=NOW
        )
        drawn = [e for e in read_after(session, 0, limit=100) if e.type == "audit.sample_drawn"]
    assert again == chosen and len(chosen) == 4
    assert [e.data["seed"] for e in drawn] == [seed, seed]


def test_scores_are_journaled_and_every_checklist_item_must_be_answered(make_records):
    records = make_records(sample_share=1.0, checklist=["recorded", "continuous"])
    clip = records.add_clip(days_old=1)
    retention = records.settings.retention
    with records.db.transaction() as session:
        sample, _ = sampling.draw_sample(
            session, retention, *PERIOD, seed=3, actor=AUDITOR, now=NOW
        )
        with pytest.raises(sampling.SampleError, match="continuous$"):
            sampling.score(
                session,
                retention,
                sample.id,
                clip,
                passed=("recorded",),
                failed=(),
                comment="",
                actor=AUDITOR,
                now=NOW,
            )
        sampling.score(
            session,
            retention,
            sample.id,
            clip,
            passed=("recorded",),
            failed=("continuous",),
            comment="gap at 10:14",
            actor=AUDITOR,
            now=NOW,
        )
        [scored] = [e for e in read_after(session, 0, limit=100) if e.type == "audit.sample_scored"]
    assert scored.actor == AUDITOR
    assert scored.data == {
        "sample_id": sample.id,
        "clip_id": clip,
        "passed": ["recorded"],
        "failed": ["continuous"],
        "comment": "gap at 10:14",
    }

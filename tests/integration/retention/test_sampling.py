"""Sampling audits: the same seed gives the same sample, spread over officers, scores
journaled; an auditor's rescore replaces their earlier score in the report, never silently."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dock.journal import read_after
from dock.period_report import numbers
from dock.retention import sampling
from dock.retention.models import AuditScore
from tests.integration.retention.conftest import NOW, Records

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


OTHER_AUDITOR = "staff:li"


def sampled_clip(records: Records) -> tuple[int, int]:
    """A sample of one clip (officer 001's), drawn at share 1: (sample id, clip id)."""
    clip = records.add_clip(days_old=1)
    with records.db.transaction() as session:
        sample, _ = sampling.draw_sample(
            session, records.settings.retention, *PERIOD, seed=3, actor=AUDITOR, now=NOW
        )
        return sample.id, clip


def give_score(records: Records, sample_id: int, clip: int, passed: tuple[str, ...], *,
               comment: str = "", actor: str = AUDITOR) -> int:  # fmt: skip
    checklist = records.settings.retention.checklist
    failed = tuple(item for item in checklist if item not in passed)
    with records.db.transaction() as session:
        return sampling.score(
            session, records.settings.retention, sample_id, clip, passed=passed, failed=failed,
            comment=comment, actor=actor, now=NOW,
        )  # fmt: skip


def sample_figures(records: Records) -> tuple[int, int, float | None]:
    """Officer 001's sample answers, passed answers and score in the period report."""
    with closing(sqlite3.connect(records.db_path)) as raw:
        report = numbers.build_report(raw, *PERIOD)
    [line] = [o for o in report.lines if o.officer == "001"]
    return line.sample_answers, line.sample_passed, line.sample_score_pct


def test_a_rescore_replaces_the_auditors_earlier_score_in_the_report(make_records):
    records = make_records(sample_share=1.0, checklist=["recorded", "continuous"])
    sample_id, clip = sampled_clip(records)
    first = give_score(records, sample_id, clip, ("recorded",))
    assert sample_figures(records) == (2, 1, 50.0)
    again = give_score(records, sample_id, clip, ("recorded", "continuous"),
                       comment="the gap at 10:14 is the recorder's clock, not a stop")  # fmt: skip
    assert sample_figures(records) == (2, 2, 100.0)  # the rescore alone, not 4 answers
    give_score(records, sample_id, clip, (), actor=OTHER_AUDITOR)  # a second auditor counts
    assert sample_figures(records) == (4, 2, 50.0)
    with records.db.transaction() as session:
        rows = read_after(session, 0, limit=100)
        shown = sampling.scorings(session, sample_id)[clip]
    scored = [
        e for e in rows if e.type.startswith("audit.sample_") and e.type != "audit.sample_drawn"
    ]
    assert [(e.id, e.type, e.actor) for e in scored] == [
        (first, "audit.sample_scored", AUDITOR),
        (again, "audit.sample_rescored", AUDITOR),
        (scored[2].id, "audit.sample_scored", OTHER_AUDITOR),
    ]
    assert scored[0].data["passed"] == ["recorded"]  # the replaced score stays as it was
    assert scored[1].data == {
        "sample_id": sample_id,
        "clip_id": clip,
        "passed": ["recorded", "continuous"],
        "failed": [],
        "comment": "the gap at 10:14 is the recorder's clock, not a stop",
        "replaces": first,
    }
    assert [(s.entry_id, s.replaces, s.replaced_by) for s in shown] == [
        (first, None, again),
        (again, first, None),
        (scored[2].id, None, None),
    ]


def test_a_rescore_without_a_comment_is_refused_and_changes_nothing(make_records):
    records = make_records(sample_share=1.0, checklist=["recorded", "continuous"])
    sample_id, clip = sampled_clip(records)
    first = give_score(records, sample_id, clip, ("recorded",))
    with records.db.transaction() as session:
        rows_before = len(read_after(session, 0, limit=1000))
    for comment in ("", "   "):
        with pytest.raises(sampling.SampleError, match=f"日志第 {first} 行.*须填写说明原因的备注"):
            give_score(records, sample_id, clip, ("recorded", "continuous"), comment=comment)
    with records.db.transaction() as session:
        assert len(read_after(session, 0, limit=1000)) == rows_before
        assert session.scalar(select(func.count()).select_from(AuditScore)) == 2
    assert sample_figures(records) == (2, 1, 50.0)


def test_scores_given_before_scores_named_their_journal_row_are_found_by_migration(tmp_path):
    from alembic import command
    from alembic.config import Config

    from dock.db import DB_FILE_NAME, open_database
    from dock.db.database import MIGRATIONS_DIR, make_engine

    engine = make_engine(tmp_path / DB_FILE_NAME)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0011")  # as a dock scored before this change
        at = "2026-12-01 09:00:00.000000"
        for id_, actor in ((1, "staff:li"), (2, AUDITOR)):
            connection.exec_driver_sql(
                "INSERT INTO journal (id, at_utc, type, actor, data, prev_hash, hash) "
                f"VALUES ({id_}, '{at}', 'audit.sample_scored', '{actor}', '{{}}', 'h{id_ - 1}', 'h{id_}')"
            )
            connection.exec_driver_sql(
                "INSERT INTO audit_scores (sample_id, clip_id, item, is_passed, comment, "
                f"auditor, at_utc) VALUES (1, 5, 'recorded', 1, '', '{actor}', '{at}')"
            )
    engine.dispose()
    db = open_database(tmp_path)
    with db.transaction() as session:
        found = session.execute(select(AuditScore.auditor, AuditScore.entry_id)).all()
    db.close()
    assert sorted(found) == [("staff:li", 1), (AUDITOR, 2)]

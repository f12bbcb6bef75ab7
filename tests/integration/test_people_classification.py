"""A custodian classifies clips; search by any field and time range, paged, marks shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from dock.people import NotAllowed
from dock.people.classification import FIELDS, ClassificationError, classify, search
from dock.people.marks import set_mark
from tests.integration.people_setup import START


def classified(people, clip_id: int, username: str = "cora", **changes: str) -> None:
    actor = people.sign_in(username)
    with people.db.transaction() as session:
        classify(session, actor, clip_id, changes, categories=people.settings.people.record_categories,
                 retention=people.settings.retention, clock=people.clock)  # fmt: skip


def test_custodian_sets_case_party_type_category_place_and_search_finds_each(people):
    clip = people.add_clip()
    values = {
        "case_name": "占道经营", "case_number": "2026-17", "party": "某某公司",
        "enforcement_type": "市容", "category": "现场执法", "place": "人民路 3 号",
    }  # fmt: skip
    classified(people, clip, **values)
    people.add_clip(b"other")
    with people.db.transaction() as session:
        for name, value in values.items():
            assert [f.clip_id for f in search(session, {name: value})] == [clip], name


def test_only_a_custodian_classifies(people):
    clip = people.add_clip()
    with pytest.raises(NotAllowed):
        classified(people, clip, "olga", case_name="x")


def test_a_category_outside_the_agencys_checklist_is_refused(people):
    clip = people.add_clip()
    with pytest.raises(ClassificationError):
        classified(people, clip, category="holiday")


def test_search_pages_newest_first_within_the_time_range(people):
    ids = [
        people.add_clip(bytes([n]) * 8, recorded_start_utc=START + timedelta(hours=n), place="A")
        for n in range(5)
    ]
    with people.db.transaction() as session:
        first = search(session, {"place": "A"}, page_size=2)
        second = search(session, {"place": "A"}, page_size=2, page=2)
        ranged = search(
            session, {}, since=START + timedelta(hours=1), until=START + timedelta(hours=3)
        )
    assert [f.clip_id for f in first + second] == ids[::-1][:4]
    assert [f.clip_id for f in ranged] == [ids[2], ids[1]]


def test_the_mark_of_a_clips_case_shows_in_its_search_row(people):
    clip = people.add_clip(case_number="2026-17")
    leader = people.sign_in("leo")
    with people.db.transaction() as session:
        set_mark(session, leader, "state_secret", case_number="2026-17", clock=people.clock)
    with people.db.transaction() as session:
        assert search(session, {"case_number": "2026-17"})[0].marks == ("state_secret",)
        assert clip


@pytest.mark.parametrize("name", FIELDS)
def test_each_search_field_reads_through_its_own_index(people, name):
    with people.db.transaction() as session:
        plan = session.execute(
            text(
                f"EXPLAIN QUERY PLAN SELECT id FROM clips WHERE {name} = 'x' "
                "ORDER BY recorded_start_utc DESC, id DESC LIMIT 50"
            )
        ).all()
    details = " ".join(row[-1] for row in plan)
    assert "INDEX ix_clips_" in details and f"({name}=?)" in details
    assert "TEMP B-TREE" not in details

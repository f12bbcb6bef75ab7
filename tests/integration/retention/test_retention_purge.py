"""Retention ends (the longest period wins) and the one purge: spared, removed, undone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dock.journal import read_after
from dock.people import NotAllowed
from dock.people.commands import RequestRefused
from dock.retention import holds, policy, purge
from dock.retention.holds import HoldKind
from dock.retention.models import Tombstone
from tests.integration.retention.conftest import CUSTODIAN, NOW


def compute(records):
    with records.db.transaction() as session:
        policy.compute_missing(session, records.settings.retention, CUSTODIAN, NOW)


def request_purge(records, why="expired footage, quarter end"):
    wang = records.actor("wang")
    with records.db.transaction() as session:
        return purge.request_purge(session, records.commands, wang, why=why).id


def carry_out(records, request_id, settings=None):
    wang = records.actor("wang")
    with records.db.transaction() as session:
        found = purge.purge(
            session, records.store, settings or records.settings.retention, records.commands,
            wang, request_id,
        )  # fmt: skip
    return [e.clip_id for e in found]


def run_purge(records):
    """Requested by the custodian, reviewed, approved by the leader, carried out."""
    request_id = request_purge(records)
    records.approve(request_id)
    return carry_out(records, request_id)


def journal_of(records, type_):
    with records.db.transaction() as session:
        return [e for e in read_after(session, 0, limit=10_000) if e.type == type_]


def test_the_longest_period_wins(records, make_records):
    settings = records.settings.retention
    start = NOW
    assert policy.retention_end(start, None, None, settings).end == start + timedelta(days=180)
    category = policy.retention_end(start, "交通事故", None, settings)
    assert (category.end, category.rule) == (
        start + timedelta(days=1095),
        policy.Rule(policy.RuleKind.CATEGORY, days=1095, category="交通事故"),
    )
    assert category.rule.stored == "category 交通事故 1095 days"  # as stored and journaled
    short = make_records(default_days=400, category_days={"会议": 30}).settings.retention
    assert policy.retention_end(start, "会议", None, short).end == start + timedelta(days=400)


def test_a_case_file_keeps_its_footage_and_a_change_is_journaled_with_who_and_why(records):
    clip = records.add_clip(days_old=400)
    with records.db.transaction() as session:
        end = policy.reclassify(
            session,
            records.settings.retention,
            clip,
            case_number="A-2026-7",
            category=None,
            actor=CUSTODIAN,
            why="linked to the case file",
            now=NOW,
        )
        assert end.end is None  # an open case file: no end
        later = NOW + timedelta(days=3650)
        [closed] = policy.set_case_retention(
            session,
            records.settings.retention,
            "A-2026-7",
            later,
            actor=CUSTODIAN,
            why="case closed, file kept 10 years",
            now=NOW,
        )
        assert closed.end == later
    changes = journal_of(records, "retention.changed")
    assert [(e.actor, e.data["why"]) for e in changes] == [
        (CUSTODIAN, "linked to the case file"),
        (CUSTODIAN, "case closed, file kept 10 years"),
    ]


def test_purge_spares_held_case_linked_and_unexpired_clips_and_removes_expired_ones(records):
    expired = records.add_clip(days_old=200)
    unexpired = records.add_clip(days_old=100)
    long_category = records.add_clip(days_old=200, category="交通事故")
    held = records.add_clip(days_old=200)
    case_linked = records.add_clip(days_old=200)
    compute(records)
    with records.db.transaction() as session:
        holds.place_hold(
            session,
            clip_id=held,
            case_number=None,
            kind=HoldKind.DISPUTE,
            note="complaint expected",
            actor=CUSTODIAN,
            now=NOW,
        )
        policy.reclassify(
            session,
            records.settings.retention,
            case_linked,
            case_number="B-1",
            category=None,
            actor=CUSTODIAN,
            why="evidence in B-1",
            now=NOW,
        )
        listed = [e.clip_id for e in purge.expired_clips(session, NOW)]
    assert listed == [expired]
    assert run_purge(records) == [expired]
    assert not records.store.has(records.sha_of(expired))
    for spared in (unexpired, long_category, held, case_linked):
        assert records.store.has(records.sha_of(spared))


def test_purge_is_logged_with_rule_and_approver_and_keeps_a_tombstone(records):
    clip = records.add_clip(days_old=200)
    compute(records)
    run_purge(records)
    [event] = journal_of(records, "clip.purged")
    assert event.data["clip_id"] == clip
    assert event.data["rule"] == "default 180 days"
    assert event.data["approved_by"] == "li"
    assert event.actor == CUSTODIAN
    with records.db.transaction() as session:
        tomb = session.get_one(Tombstone, clip)
        assert (tomb.rule, tomb.approved_by, tomb.removed_at_utc) == (
            "default 180 days",
            "li",
            NOW,
        )
        assert tomb.undo_until == NOW + timedelta(days=30)


def test_purge_without_an_approval_through_the_command_layer_removes_nothing(records):
    clip = records.add_clip(days_old=200)
    compute(records)
    request_id = request_purge(records)
    zhao, lena = records.actor("zhao"), records.actor("lena")
    with pytest.raises(RequestRefused):  # requested only: not reviewed, not approved
        carry_out(records, request_id)
    with records.db.transaction() as session, pytest.raises(NotAllowed):
        records.commands.review(session, zhao, request_id, is_passed=True)  # not the reviewer
    with records.db.transaction() as session:
        records.commands.review(session, lena, request_id, is_passed=True)
    with records.db.transaction() as session, pytest.raises(NotAllowed):
        records.commands.approve(session, lena, request_id)  # the reviewer is not the approver
    with pytest.raises(RequestRefused):  # reviewed, not approved
        carry_out(records, request_id)
    assert records.store.has(records.sha_of(clip))
    assert journal_of(records, "clip.purged") == []


def test_an_approved_purge_is_carried_out_once_by_its_requester(records):
    clip = records.add_clip(days_old=200)
    compute(records)
    request_id = request_purge(records)
    records.approve(request_id)
    li = records.actor("li")
    with records.db.transaction() as session, pytest.raises(RequestRefused):
        purge.purge(
            session, records.store, records.settings.retention, records.commands, li, request_id
        )
    assert carry_out(records, request_id) == [clip]
    with pytest.raises(RequestRefused):  # spent
        carry_out(records, request_id)
    steps = [e.data["step"] for e in journal_of(records, "request.step")]
    assert steps == ["requested", "reviewed", "approved", "carried_out"]


def test_a_purge_covers_only_what_had_expired_when_it_was_requested(records, make_records):
    before = records.add_clip(days_old=200)
    after = records.add_clip(days_old=179.5)  # expires half a day after the request
    compute(records)
    request_id = request_purge(records)
    records.approve(request_id)
    assert carry_out(records, request_id) == [before]
    assert records.store.has(records.sha_of(after))


def test_purge_is_undoable_within_the_window_and_final_after_it(records):
    back, gone = records.add_clip(days_old=200), records.add_clip(days_old=201)
    compute(records)
    run_purge(records)
    with records.db.transaction() as session:
        purge.undo(session, records.store, back, why="purged by mistake", actor=CUSTODIAN, now=NOW)
    assert records.store.verify(records.sha_of(back))
    assert purge.aside_path(records.store, records.sha_of(gone)).exists()
    after = NOW + timedelta(days=31)
    with records.db.transaction() as session:
        assert purge.finalize(session, records.store, actor=CUSTODIAN, now=after) == [gone]
        with pytest.raises(purge.PurgeError):
            purge.undo(session, records.store, gone, why="too late", actor=CUSTODIAN, now=after)
    assert not purge.aside_path(records.store, records.sha_of(gone)).exists()
    assert [e.data["clip_id"] for e in journal_of(records, "clip.purge_undone")] == [back]
    assert [e.data["clip_id"] for e in journal_of(records, "clip.purge_finalized")] == [gone]


def test_an_object_set_aside_by_a_purge_that_crashed_goes_back(records):
    clip = records.add_clip(days_old=200)
    sha = records.sha_of(clip)
    aside = purge.aside_path(records.store, sha)
    aside.parent.mkdir()
    records.store.path_of(sha).rename(aside)  # moved, then the crash before the commit
    with records.db.transaction() as session:
        assert purge.restore_orphans(session, records.store) == [sha]
    assert records.store.verify(sha)


def test_lifting_a_hold_needs_an_approved_lift_hold_request(records):
    clip = records.add_clip(days_old=200)
    wang = records.actor("wang")
    with records.db.transaction() as session:
        hold = holds.place_hold(
            session, clip_id=clip, case_number=None, kind=HoldKind.MAJOR,
            note="major matter", actor=CUSTODIAN, now=NOW,
        )  # fmt: skip
        hold_id = hold.id
        with pytest.raises(holds.HoldError):  # nothing requested yet
            holds.lift_hold(session, records.commands, wang, hold_id)
        request = holds.request_lift(session, records.commands, wang, hold_id, why="matter closed")
        request_id = request.id
        assert request.kind == "lift_hold" and request.clip_id == clip
    with records.db.transaction() as session, pytest.raises(RequestRefused):
        holds.lift_hold(session, records.commands, wang, hold_id)  # not yet approved
    with records.db.transaction() as session:
        assert holds.is_held(session, clip)
    records.approve(request_id)
    with records.db.transaction() as session:
        holds.lift_hold(session, records.commands, wang, hold_id)
        assert not holds.is_held(session, clip)
    [lifted] = journal_of(records, "hold.lifted")
    assert lifted.data == {"hold_id": hold_id, "approved_by": "li", "why": "matter closed"}
    assert lifted.actor == "staff:wang"


def test_a_hold_of_no_known_kind_is_refused_and_nothing_is_held(records):
    clip = records.add_clip(days_old=200)
    with records.db.transaction() as session, pytest.raises(holds.HoldError, match="dispute"):
        holds.place_hold(
            session, clip_id=clip, case_number=None, kind="weather",
            note="", actor=CUSTODIAN, now=NOW,
        )  # fmt: skip
    with records.db.transaction() as session:
        assert not holds.is_held(session, clip)
    assert journal_of(records, "hold.placed") == []


def test_a_page_of_the_dry_run_is_its_first_lines_and_the_count_is_whole(records):
    newest, old, oldest = (records.add_clip(days_old=d) for d in (300, 400, 500))
    with records.db.transaction() as session:
        policy.compute_missing(session, records.settings.retention, CUSTODIAN, NOW)
        page = [e.clip_id for e in purge.expired_clips(session, NOW, limit=2)]
        assert purge.count_expired(session, NOW) == 3
    assert page == [oldest, old] and newest not in page

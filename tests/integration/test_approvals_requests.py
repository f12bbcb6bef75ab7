"""Requests move requested -> reviewed -> approved | refused -> carried out, as configured."""

from __future__ import annotations

import pytest

from dock import journal
from dock.people import NotAllowed
from dock.people.commands import NoLiveApproval, RequestRefused
from dock.people.marks import set_mark


def ask(people, username: str, kind: str, clip_id: int, reason: str = "complaint 17") -> int:
    actor = people.sign_in(username)
    with people.db.transaction() as session:
        return people.commands.request(session, actor, kind, clip_id=clip_id, reason=reason).id


def review(people, username: str, request_id: int, *, is_passed: bool = True) -> None:
    actor = people.sign_in(username)
    with people.db.transaction() as session:
        people.commands.review(session, actor, request_id, note="checked", is_passed=is_passed)


def approve(people, username: str, request_id: int, marks: tuple[str, ...] = ()) -> None:
    actor = people.sign_in(username)
    with people.db.transaction() as session:
        people.commands.approve(session, actor, request_id, marks_named=marks)


def approved(people, kind: str, clip_id: int, requester: str = "cora") -> int:
    reviewer = {"view": "dora", "copy": "lena", "export": "lena"}[kind]
    request_id = ask(people, requester, kind, clip_id)
    review(people, reviewer, request_id)
    approve(people, "leo", request_id)
    return request_id


def test_every_step_of_a_request_is_a_journal_row_naming_who(people):
    clip = people.add_clip()
    approved(people, "view", clip)
    with people.db.transaction() as session:
        steps = [
            (r.data["step"], r.actor)
            for r in journal.latest(session, limit=50)
            if r.type == "request.step"
        ]
    assert steps == [
        ("requested", "staff:cora"),
        ("reviewed", "staff:dora"),
        ("approved", "staff:leo"),
    ]


def test_copy_without_legal_review_is_refused(people):
    clip = people.add_clip()
    request_id = ask(people, "cora", "copy", clip)
    with pytest.raises(RequestRefused):
        approve(people, "leo", request_id)


def test_only_the_configured_role_reviews(people):
    clip = people.add_clip()
    request_id = ask(people, "cora", "copy", clip)
    with pytest.raises(NotAllowed):
        review(people, "dora", request_id)  # the office director reviews views, not copies


def test_which_role_approves_is_agency_configuration(tmp_path):
    from tests.integration.people_setup import People

    people = People(
        tmp_path, {"approvers": {"view": "office_director"}, "reviewers": {"view": "custodian"}}
    )
    try:
        clip = people.add_clip()
        request_id = ask(people, "olga", "view", clip)
        review(people, "carl", request_id)
        with pytest.raises(NotAllowed):
            approve(people, "leo", request_id)
        approve(people, "dora", request_id)
    finally:
        people.close()


def test_nobody_reviews_their_own_request(people):
    clip = people.add_clip()
    request_id = ask(people, "dora", "view", clip)
    with pytest.raises(RequestRefused):
        review(people, "dora", request_id)


def test_a_refused_request_gives_no_approval(people):
    clip = people.add_clip()
    request_id = ask(people, "cora", "view", clip)
    review(people, "dora", request_id, is_passed=False)
    with people.db.transaction() as session, pytest.raises(NoLiveApproval):
        people.commands.live_approval(session, people.sign_in("cora"), "view", clip)


def test_an_approval_is_for_its_one_clip_and_its_one_kind(people):
    clip, other = people.add_clip(b"a" * 10), people.add_clip(b"b" * 10)
    approved(people, "view", clip)
    actor = people.sign_in("cora")
    with people.db.transaction() as session:
        people.commands.live_approval(session, actor, "view", clip)
        with pytest.raises(NoLiveApproval):
            people.commands.live_approval(session, actor, "view", other)
        with pytest.raises(NoLiveApproval):
            people.commands.live_approval(session, actor, "copy", clip)


def test_an_approval_is_for_the_requester_only(people):
    clip = people.add_clip()
    approved(people, "view", clip)
    with people.db.transaction() as session, pytest.raises(NoLiveApproval):
        people.commands.live_approval(session, people.sign_in("carl"), "view", clip)


def test_expired_approval_is_refused(people):
    clip = people.add_clip()
    approved(people, "view", clip)
    people.clock.advance(people.settings.people.approval_hours * 3600 + 1)
    with people.db.transaction() as session, pytest.raises(NoLiveApproval):
        people.commands.live_approval(session, people.sign_in("cora"), "view", clip)


def test_confidential_clip_needs_the_leader(tmp_path):
    from tests.integration.people_setup import People

    people = People(tmp_path, {"approvers": {"view": "office_director"}})
    try:
        clip = people.add_clip()
        with people.db.transaction() as session:
            set_mark(session, people.sign_in("cora"), "personal_information", clip_id=clip,
                     clock=people.clock)  # fmt: skip
        request_id = ask(people, "carl", "view", clip)
        review(people, "dora", request_id)
        with pytest.raises(RequestRefused):
            approve(people, "dora", request_id)
    finally:
        people.close()


def test_a_marked_clip_is_approved_for_viewing_only_to_roles_the_agency_grants(people):
    clip = people.add_clip(case_number="2026-17")
    with people.db.transaction() as session:
        set_mark(session, people.sign_in("leo"), "state_secret", case_number="2026-17",
                 clock=people.clock)  # fmt: skip
    request_id = ask(people, "cora", "view", clip)  # custodians are not granted state secrets
    review(people, "dora", request_id)
    with pytest.raises(RequestRefused):
        approve(people, "lisa", request_id)


def test_export_of_a_marked_clip_needs_the_leader_to_name_the_mark(people):
    clip = people.add_clip()
    with people.db.transaction() as session:
        set_mark(session, people.sign_in("cora"), "commercial_secret", clip_id=clip,
                 clock=people.clock)  # fmt: skip
    request_id = ask(people, "cora", "export", clip)
    review(people, "lena", request_id)
    with pytest.raises(RequestRefused):
        approve(people, "leo", request_id)
    approve(people, "leo", request_id, marks=("commercial_secret",))


def test_export_confirmed_by_one_person_or_the_same_twice_is_refused(people):
    clip = people.add_clip()
    request_id = approved(people, "export", clip)
    cora = people.sign_in("cora")
    with people.db.transaction() as session:
        people.commands.confirm_export(session, cora, request_id)
    with people.db.transaction() as session, pytest.raises(RequestRefused):
        people.commands.start_export(session, cora, request_id)
    with people.db.transaction() as session, pytest.raises(RequestRefused):
        people.commands.confirm_export(session, cora, request_id)
    with people.db.transaction() as session:
        people.commands.confirm_export(session, people.sign_in("carl"), request_id)
    with people.db.transaction() as session:
        assert people.commands.start_export(session, cora, request_id) == ("cora", "carl")


def test_the_queue_shows_each_role_what_waits_for_it(people):
    clip = people.add_clip()
    request_id = ask(people, "cora", "view", clip)
    director, leader = people.sign_in("dora"), people.sign_in("leo")
    with people.db.transaction() as session:
        assert [r.id for r in people.commands.queue(session, director)] == [request_id]
        assert people.commands.queue(session, leader) == []

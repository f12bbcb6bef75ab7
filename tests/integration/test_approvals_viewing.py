"""Viewing: no approval, nothing streamed; an approved viewing is registered."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dock.people.commands import NoLiveApproval
from dock.people.models import Viewing
from dock.people.viewing import open_view, read_range
from tests.integration.test_approvals_requests import approved

CONTENT = bytes(range(256)) * 4096  # 1 MiB


def test_view_without_approval_is_refused_and_nothing_is_streamed_or_registered(people):
    clip = people.add_clip(CONTENT)
    with people.db.transaction() as session, pytest.raises(NoLiveApproval):
        open_view(session, people.commands, people.sign_in("cora"), clip, people.store)
    with people.db.transaction() as session:
        assert session.scalars(select(Viewing)).all() == []


def test_approved_view_is_registered_with_who_why_when_and_the_approval(people):
    clip = people.add_clip(CONTENT)
    request_id = approved(people, "view", clip)
    with people.db.transaction() as session:
        open_view(session, people.commands, people.sign_in("cora"), clip, people.store)
    with people.db.transaction() as session:
        row = session.scalars(select(Viewing)).one()
        assert (row.username, row.reason, row.clip_id, row.request_id, row.at_utc) == (
            "cora", "complaint 17", clip, request_id, people.clock.now_utc(),
        )  # fmt: skip


def test_ranges_stream_the_stored_bytes_as_they_are(people):
    clip = people.add_clip(CONTENT)
    approved(people, "view", clip)
    actor = people.sign_in("cora")
    with people.db.transaction() as session:
        view = open_view(session, people.commands, actor, clip, people.store)
        whole = b"".join(read_range(session, people.commands, actor, view, people.store))
        part = b"".join(read_range(session, people.commands, actor, view, people.store, 1000, 1999))
    assert whole == CONTENT
    assert part == CONTENT[1000:2000]


def test_a_range_after_the_approval_expired_is_refused(people):
    clip = people.add_clip(CONTENT)
    approved(people, "view", clip)
    actor = people.sign_in("cora")
    with people.db.transaction() as session:
        view = open_view(session, people.commands, actor, clip, people.store)
    people.clock.advance(people.settings.people.approval_hours * 3600 + 1)
    with people.db.transaction() as session, pytest.raises(NoLiveApproval):
        read_range(session, people.commands, actor, view, people.store)

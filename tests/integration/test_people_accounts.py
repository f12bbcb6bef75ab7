"""Staff sign-in: argon2 hashes, lock-out after repeated wrong passwords, every try journaled."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dock import journal
from dock.people import AccountLocked, Role, SignInRefused, authenticate, require
from dock.people.accounts import AccountError, add_staff
from dock.people.models import Staff
from dock.people.roles import NotAllowed
from tests.integration.people_setup import PASSWORD


def wrong(people, username: str = "cora") -> type[Exception]:
    with pytest.raises(SignInRefused) as refused:
        authenticate(
            people.db, username, "not it", limits=people.settings.people, clock=people.clock
        )
    return type(refused.value)


def test_right_password_gives_an_actor_with_the_roles_of_the_account(people):
    actor = people.sign_in("cora")
    assert actor.username == "cora"
    assert actor.roles == frozenset({Role.CUSTODIAN})


def test_password_is_stored_as_an_argon2id_hash_not_as_itself(people):
    with people.db.transaction() as session:
        stored = session.scalar(select(Staff.password_hash).where(Staff.username == "cora"))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_wrong_passwords_lock_out_even_the_right_one_until_the_lock_ends(people):
    limit = people.settings.people.lockout_failures
    kinds = [wrong(people) for _ in range(limit)]
    assert kinds == [SignInRefused] * (limit - 1) + [AccountLocked]
    with pytest.raises(AccountLocked):
        people.sign_in("cora")
    people.clock.advance(people.settings.people.lockout_minutes * 60 + 1)
    assert people.sign_in("cora").username == "cora"


def test_a_right_password_resets_the_count_of_wrong_ones(people):
    limit = people.settings.people.lockout_failures
    for _ in range(limit - 1):
        wrong(people)
    people.sign_in("cora")
    assert [wrong(people) for _ in range(limit - 1)] == [SignInRefused] * (limit - 1)


def test_failed_sign_in_is_journaled_with_who_tried(people):
    wrong(people)
    with people.db.transaction() as session:
        rows = [r for r in journal.latest(session, limit=5) if r.type == "staff.sign_in_failed"]
    assert rows and rows[0].actor == "staff:cora" and rows[0].data["failures"] == 1


def test_failure_inside_a_callers_session_still_counts(people):
    with people.db.transaction() as session, pytest.raises(SignInRefused):
        authenticate(session, "cora", "nope", limits=people.settings.people, clock=people.clock)
    with people.db.transaction() as session:
        assert session.scalar(select(Staff.failed_logins).where(Staff.username == "cora")) == 1


def test_unknown_user_is_refused_like_a_wrong_password(people):
    assert wrong(people, "nobody") is SignInRefused


def test_only_an_administrator_adds_staff(people):
    custodian = people.sign_in("cora")
    with people.db.transaction() as session, pytest.raises(NotAllowed):
        add_staff(
            session, custodian, username="x", display_name="X", roles=["leader"],
            password=PASSWORD, clock=people.clock,
        )  # fmt: skip


def test_a_short_password_is_refused(people):
    admin = people.sign_in("admin")
    with people.db.transaction() as session, pytest.raises(AccountError):
        add_staff(
            session, admin, username="x", display_name="X", roles=["leader"],
            password="short", clock=people.clock,
        )  # fmt: skip


def test_require_refuses_a_role_the_actor_lacks_in_one_line(people):
    officer = people.sign_in("olga")
    require(officer, "request.make")
    with pytest.raises(NotAllowed) as refused:
        require(officer, Role.LEADER)
    assert "\n" not in str(refused.value)

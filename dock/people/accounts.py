"""Staff accounts: argon2id password hashes, lock-out after repeated failures, sign-in.

A failed sign-in is recorded (and may lock the account) even though the caller gets an
error: the count must survive the refusal, so with a Session it is committed before the
error is raised, and with a Database it runs in its own transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from dock import journal
from dock.errors import DockError
from dock.events import StaffAdded, StaffSignedIn, StaffSignInFailed
from dock.i18n import local_time, t
from dock.people.models import Staff
from dock.people.roles import Actor, Permission, Role, require, roles_from

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session

    from dock.clock import Clock
    from dock.config import PeopleSettings
    from dock.db import Database

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
MIN_PASSWORD_CHARS = 10


class SignInRefused(DockError):
    """Wrong user name or password, or a locked account."""


class AccountLocked(SignInRefused):
    """Too many wrong passwords in a row: the account waits out its lock."""


class AccountError(DockError):
    """An account cannot be created as asked."""


def add_staff(
    session: Session,
    by: Actor | None,
    *,
    username: str,
    display_name: str,
    roles: Iterable[str],
    password: str,
    clock: Clock,
) -> Staff:
    """Create an account; by None only for the very first one (the administrator's own)."""
    granted = roles_from(roles)
    if by is None:
        if session.scalar(select(Staff.id).limit(1)) is not None:
            raise AccountError(t("only an administrator may add staff; sign in as one"))
        if Role.ADMINISTRATOR not in granted:
            raise AccountError(t("the first account must be an administrator"))
    else:
        require(by, Permission.MANAGE_STAFF)
    if not granted:
        raise AccountError(t("give at least one role"))
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(t("the password needs at least {n} characters", n=MIN_PASSWORD_CHARS))
    if session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        raise AccountError(t("{username} exists already; choose another name", username=username))
    now = clock.now_utc()
    staff = Staff(
        username=username,
        display_name=display_name,
        roles=",".join(sorted(granted)),
        password_hash=_hasher.hash(password),
        failed_logins=0,
        created_at_utc=now,
    )
    session.add(staff)
    happened = StaffAdded(
        username=username, display_name=display_name, roles=tuple(sorted(granted))
    )
    journal.append(session, happened, actor=by.journal_name if by else "setup", at=now)
    return staff


def add_team(session: Session, staff: dict[str, list[str]], *, password: str, clock: Clock) -> None:
    """A new dock's accounts at once (make run's demo team, the tests' staff), all with one
    password; the first must be an administrator, who adds the rest."""
    admin = None
    for username, roles in staff.items():
        add_staff(
            session, admin, username=username, display_name=username.title(), roles=roles,
            password=password, clock=clock,
        )  # fmt: skip
        if admin is None:
            session.flush()
            admin = Actor(username, frozenset({Role.ADMINISTRATOR}))


def authenticate(
    session_or_db: Session | Database,
    username: str,
    password: str,
    *,
    limits: PeopleSettings | None = None,
    clock: Clock | None = None,
) -> Actor:
    """The Actor for a right password; SignInRefused (AccountLocked) otherwise, recorded."""
    from dock.config import PeopleSettings
    from dock.db import Database

    limits = limits or PeopleSettings()
    if clock is None:
        from dock.clock import SystemClock

        clock = SystemClock()
    if isinstance(session_or_db, Database):
        with session_or_db.transaction() as session:
            actor, refusal = _sign_in(session, username, password, limits, clock)
    else:
        actor, refusal = _sign_in(session_or_db, username, password, limits, clock)
        if refusal is not None:
            session_or_db.commit()  # the failure counts even though the caller gets an error
    if refusal is not None:
        raise refusal
    assert actor is not None
    return actor


def _sign_in(
    session: Session, username: str, password: str, limits: PeopleSettings, clock: Clock
) -> tuple[Actor | None, SignInRefused | None]:
    now = clock.now_utc()
    staff = session.scalar(select(Staff).where(Staff.username == username))
    wrong = SignInRefused(t("wrong user name or password; try again"))
    if staff is None:
        _hasher_dummy_verify(password)  # the same time for an unknown name: names stay secret
        return None, wrong
    if staff.locked_until_utc is not None and staff.locked_until_utc > now:
        until = local_time(staff.locked_until_utc)
        return None, AccountLocked(
            t("{username} is locked until {until} after wrong passwords; wait or ask an "
              "administrator", username=username, until=until)
        )  # fmt: skip
    if not _is_right(staff.password_hash, password):
        staff.failed_logins += 1
        locked_until = None
        if staff.failed_logins >= limits.lockout_failures:
            locked_until = now + timedelta(minutes=limits.lockout_minutes)
            staff.locked_until_utc = locked_until
            staff.failed_logins = 0
        failed = StaffSignInFailed(
            username=username,
            failures=staff.failed_logins or limits.lockout_failures,
            locked_until_utc=locked_until,
        )
        journal.append(session, failed, actor=f"staff:{username}", at=now)
        if locked_until is not None:
            return None, AccountLocked(
                t("{username} is locked until {until} after wrong passwords; wait or ask an "
                  "administrator", username=username, until=local_time(locked_until))
            )  # fmt: skip
        return None, wrong
    staff.failed_logins = 0
    staff.locked_until_utc = None
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    journal.append(session, StaffSignedIn(username=username), actor=f"staff:{username}", at=now)
    return Actor(username, roles_from(staff.roles.split(","))), None


def _is_right(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = _hasher.hash("not a password of anyone")


def _hasher_dummy_verify(password: str) -> None:
    _is_right(_DUMMY_HASH, password)

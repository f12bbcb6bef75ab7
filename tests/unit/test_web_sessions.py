"""Sessions of the pages: a cookie is honoured only with its signature, only until it has
been idle for the lifetime, and never after signing out; the secret file is private."""

from __future__ import annotations

import stat

from dock.people.roles import Actor, Role
from dock.web.sessions import SECRET_FILE_NAME, Sessions, load_secret

CORA = Actor("cora", frozenset({Role.CUSTODIAN}))


class Ticking:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_a_session_ends_after_its_idle_lifetime_and_each_use_extends_it():
    clock = Ticking()
    sessions = Sessions(b"k" * 32, lifetime_s=60, monotonic_s=clock)
    cookie = sessions.cookie_of(sessions.new(CORA))
    clock.now_s += 59
    assert sessions.find(cookie) is not None  # used: another 60 s from now
    clock.now_s += 59
    found = sessions.find(cookie)
    assert found is not None and found.actor == CORA
    clock.now_s += 60
    assert sessions.find(cookie) is None
    assert sessions.find(cookie) is None  # forgotten, not merely refused once


def test_a_forged_or_altered_cookie_or_an_ended_session_is_refused():
    clock = Ticking()
    sessions = Sessions(b"k" * 32, lifetime_s=60, monotonic_s=clock)
    session = sessions.new(CORA)
    cookie = sessions.cookie_of(session)
    other_key = Sessions(b"j" * 32, lifetime_s=60, monotonic_s=clock)
    assert sessions.find(other_key.cookie_of(session)) is None  # signed with another secret
    assert sessions.find(cookie[:-1] + ("0" if cookie[-1] != "0" else "1")) is None
    assert sessions.find(session.id) is None  # the id alone, unsigned
    assert sessions.find(None) is None
    sessions.end(session)
    assert sessions.find(cookie) is None


def test_the_secret_is_made_once_with_mode_0600(tmp_path):
    first = load_secret(tmp_path)
    assert load_secret(tmp_path) == first and len(first) >= 32
    assert stat.S_IMODE((tmp_path / SECRET_FILE_NAME).stat().st_mode) == 0o600

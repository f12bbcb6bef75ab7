"""Signed-in sessions of the custodians' pages, kept in this process only.

The cookie holds a random session id and its HMAC-SHA256 under a secret kept in the data
folder (web.secret, mode 0600), so a forged or altered cookie is refused before any look-up.
The session itself (who signed in, the CSRF token, the viewings opened) stays in memory:
signing out or expiry forgets it at once, a copied cookie cannot outlive it, and a restart
of the service asks everyone to sign in again, which is what a dock holding evidence wants.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dock.errors import DockError

if TYPE_CHECKING:
    from dock.people.roles import Actor
    from dock.people.viewing import ClipView

SECRET_FILE_NAME = "web.secret"
COOKIE_NAME = "dock_session"
SECRET_BYTES = 32


class SecretUnreadable(DockError):
    """The pages' signing secret cannot be read or made."""


@dataclass
class WebSession:
    """One browser's session; actor is None until its person signs in."""

    id: str
    csrf: str
    expires_at_s: float  # on the clock's monotonic scale
    actor: Actor | None = None
    views: dict[int, ClipView] = field(default_factory=dict)  # opened, hence registered


class Sessions:
    """Sessions by id; each use moves its expiry lifetime_s further (an idle one ends)."""

    def __init__(self, secret: bytes, lifetime_s: float, monotonic_s: Callable[[], float]):
        self._secret = secret
        self._lifetime_s = lifetime_s
        self._monotonic_s = monotonic_s
        self._by_id: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def new(self, actor: Actor | None = None) -> WebSession:
        """A fresh id and CSRF token: a sign-in never keeps the id it arrived with."""
        session = WebSession(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            expires_at_s=self._monotonic_s() + self._lifetime_s,
            actor=actor,
        )
        with self._lock:
            self._forget_expired()
            self._by_id[session.id] = session
        return session

    def find(self, cookie: str | None) -> WebSession | None:
        """The live session a cookie names; None for a missing, forged or expired one."""
        if not cookie or "." not in cookie:
            return None
        session_id, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(session_id)):
            return None
        now = self._monotonic_s()
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None or session.expires_at_s <= now:
                self._by_id.pop(session_id, None)
                return None
            session.expires_at_s = now + self._lifetime_s
            return session

    def end(self, session: WebSession) -> None:
        with self._lock:
            self._by_id.pop(session.id, None)

    def cookie_of(self, session: WebSession) -> str:
        return f"{session.id}.{self._sign(session.id)}"

    @property
    def lifetime_s(self) -> float:
        return self._lifetime_s

    def _sign(self, session_id: str) -> str:
        return hmac.new(self._secret, session_id.encode(), hashlib.sha256).hexdigest()

    def _forget_expired(self) -> None:
        now = self._monotonic_s()
        for session_id in [i for i, s in self._by_id.items() if s.expires_at_s <= now]:
            del self._by_id[session_id]


def load_secret(data_dir: Path) -> bytes:
    """The data folder's signing secret, made (mode 0600) the first time."""
    path = data_dir / SECRET_FILE_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as error:
        raise SecretUnreadable(
            f"{path}: cannot create the pages' secret ({error.strerror}); check the data folder"
        ) from None
    else:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(SECRET_BYTES))
            out.flush()
            os.fsync(out.fileno())
    try:
        secret = path.read_bytes()
    except OSError as error:
        raise SecretUnreadable(
            f"{path}: cannot read the pages' secret ({error.strerror}); check its owner"
        ) from None
    if len(secret) < SECRET_BYTES:
        raise SecretUnreadable(f"{path}: the pages' secret is too short; delete it to make anew")
    return secret

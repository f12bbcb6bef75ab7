"""Staff, roles and the actor every face hands to the command layer.

`authenticate(session_or_db, username, password) -> Actor` signs someone in (a wrong
password is recorded and locks the account after [people] lockout_failures);
`require(actor, role_or_permission)` refuses in one line. Imported lazily: dock.config reads
the role names from here without paying for argon2 or SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dock.people.roles import Actor, NotAllowed, Permission, Role, require

if TYPE_CHECKING:
    from dock.people.accounts import AccountLocked, SignInRefused, add_staff, authenticate

__all__ = [
    "AccountLocked",
    "Actor",
    "NotAllowed",
    "Permission",
    "Role",
    "SignInRefused",
    "add_staff",
    "authenticate",
    "require",
]


def __getattr__(name: str) -> Any:
    if name in ("authenticate", "add_staff", "SignInRefused", "AccountLocked"):
        from dock.people import accounts

        return getattr(accounts, name)
    raise AttributeError(name)

"""The eight staff roles and what each may do; the one place a permission is decided.

Which role reviews and which approves each kind of request is agency configuration
([people] reviewers/approvers in dock.toml), because the seed rules differ; what a role may
start or do at all is the same everywhere, so it is here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from dock.errors import DockError


class Role(StrEnum):
    OFFICER = "officer"
    CUSTODIAN = "custodian"
    OFFICE_DIRECTOR = "office_director"
    LEGAL_REVIEWER = "legal_reviewer"
    LEADER = "leader"
    AUDITOR = "auditor"
    TECHNICIAN = "technician"
    ADMINISTRATOR = "administrator"


class Permission(StrEnum):
    MANAGE_STAFF = "staff.manage"
    CLASSIFY = "clip.classify"
    MARK = "clip.mark"
    REQUEST = "request.make"  # ask to view, copy or export
    CONFIRM_OFFLOAD = "offload.confirm"
    CONFIRM_EXPORT = "export.confirm"
    READ_REGISTER = "register.read"


ROLE_NAMES = tuple(r.value for r in Role)

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OFFICER: frozenset({Permission.REQUEST, Permission.CONFIRM_OFFLOAD}),
    Role.CUSTODIAN: frozenset(
        {
            Permission.CLASSIFY,
            Permission.MARK,
            Permission.REQUEST,
            Permission.CONFIRM_OFFLOAD,
            Permission.CONFIRM_EXPORT,
        }
    ),
    Role.OFFICE_DIRECTOR: frozenset({Permission.REQUEST, Permission.READ_REGISTER}),
    Role.LEGAL_REVIEWER: frozenset({Permission.REQUEST}),
    Role.LEADER: frozenset({Permission.REQUEST, Permission.MARK, Permission.READ_REGISTER}),
    Role.AUDITOR: frozenset({Permission.READ_REGISTER}),
    Role.TECHNICIAN: frozenset(),
    Role.ADMINISTRATOR: frozenset({Permission.MANAGE_STAFF}),
}


class NotAllowed(DockError):
    """The actor's roles do not allow what was asked."""


@dataclass(frozen=True)
class Actor:
    """An authenticated member of staff; only dock.people.accounts.authenticate makes one."""

    username: str
    roles: frozenset[Role]

    @property
    def journal_name(self) -> str:
        """How the journal's actor column names them."""
        return f"staff:{self.username}"

    def has(self, role_or_permission: Role | Permission) -> bool:
        if isinstance(role_or_permission, Role):
            return role_or_permission in self.roles
        return any(role_or_permission in PERMISSIONS[r] for r in self.roles)


def require(actor: Actor, role_or_permission: Role | Permission | str) -> None:
    """Raise NotAllowed unless the actor holds the role or a role with the permission."""
    wanted = _parse(role_or_permission)
    if not actor.has(wanted):
        raise NotAllowed(
            f"{actor.username} may not do this: it needs {_name(wanted)}; "
            "ask an administrator to grant it"
        )


def roles_from(names: Iterable[str]) -> frozenset[Role]:
    """Role names as given by a person (config, CLI); an unknown one is a one-line error."""
    found = set()
    for name in names:
        try:
            found.add(Role(name))
        except ValueError:
            raise NotAllowed(
                f"unknown role {name!r}: the roles are {', '.join(ROLE_NAMES)}"
            ) from None
    return frozenset(found)


def _parse(value: Role | Permission | str) -> Role | Permission:
    if isinstance(value, Role | Permission):
        return value
    if value in ROLE_NAMES:
        return Role(value)
    return Permission(value)


def _name(value: Role | Permission) -> str:
    if isinstance(value, Role):
        return f"the role {value.value}"
    holders = [r.value for r, granted in PERMISSIONS.items() if value in granted]
    return f"{value.value} (held by {', '.join(holders) or 'no role'})"

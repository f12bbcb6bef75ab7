"""The one place a retention approval is checked: a purge, or the lifting of a hold.

Until the command layer (dock.people) carries requests through review and approval, an
approval is the approver's name and roles, checked here against the configured roles; when
it lands, `require_approval` is the one call to replace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dock.errors import DockError


class NotApproved(DockError):
    """A purge or a hold's lifting came without an approval the configuration accepts."""


@dataclass(frozen=True)
class Approval:
    approver: str  # the approver's username
    roles: frozenset[str]


def require_approval(
    approval: Approval | None, allowed_roles: Iterable[str], requester: str, purpose: str
) -> str:
    """The approver's name for the journal, or NotApproved saying what is missing."""
    allowed = tuple(allowed_roles)
    if approval is None:
        raise NotApproved(
            f"{purpose} needs an approval by one of: {', '.join(allowed)}; give --approved-by"
        )
    if approval.approver in (requester, requester.split(":", 1)[-1]):
        raise NotApproved(f"{purpose}: {approval.approver} cannot approve their own request")
    if not approval.roles & set(allowed):
        raise NotApproved(
            f"{purpose}: {approval.approver} is not one of {', '.join(allowed)} "
            "(retention.*_approver_roles)"
        )
    return approval.approver

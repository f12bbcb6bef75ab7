"""Two-person offload (003 art.21): the rule that two distinct staff confirm at the dock.

When `[people] two_person_offload` is on, a docked recorder's offload waits (its storage
stays locked) until OFFLOAD_CONFIRMATIONS different people with the offload.confirm
permission have confirmed it; every face (the control socket, `dock offload confirm`) comes
here with an authenticated Actor. Confirmations belong to one wait: the wait opens by
setting aside any left from an earlier one (a dock restarted mid-wait asks again), and the
offload that follows, or the recorder leaving, spends them. Each is a row and a journal row
in one transaction; the names go into the clips' records (Clip.offload_confirmed_by).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update

from dock import journal
from dock.bays.machine import ACTOR
from dock.events import OffloadAwaitingConfirmation, OffloadConfirmed, OffloadNotConfirmed
from dock.i18n import t
from dock.people.commands import RequestRefused
from dock.people.models import OffloadConfirmation
from dock.people.roles import Actor, Permission, require

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

OFFLOAD_CONFIRMATIONS = 2  # the rule's "two people", not a setting


def open_wait(session: Session, bay: int, serial: str, *, at: datetime) -> None:
    """The offload of `serial` in `bay` starts waiting: journaled, earlier confirmations spent."""
    _spend(session, bay, serial)
    waiting = OffloadAwaitingConfirmation(bay=bay, device=serial, needed=OFFLOAD_CONFIRMATIONS)
    journal.append(session, waiting, actor=ACTOR, at=at)


def confirm(session: Session, actor: Actor, bay: int, serial: str, *, at: datetime) -> list[str]:
    """One person's confirmation; everyone who has confirmed this wait so far, in order."""
    require(actor, Permission.CONFIRM_OFFLOAD)
    confirmed = confirmers(session, bay, serial)
    if actor.username in confirmed:
        raise RequestRefused(
            t("{username} has confirmed already: a second person must confirm",
              username=actor.username)
        )  # fmt: skip
    if len(confirmed) >= OFFLOAD_CONFIRMATIONS:
        raise RequestRefused(t("bay {bay}: the offload is confirmed already", bay=bay))
    session.add(
        OffloadConfirmation(bay=bay, device_serial=serial, username=actor.username, at_utc=at)
    )
    confirmed.append(actor.username)
    happened = OffloadConfirmed(
        bay=bay, device=serial, username=actor.username, confirmed_by=tuple(confirmed)
    )
    journal.append(session, happened, actor=actor.journal_name, at=at)
    return confirmed


def confirmers(session: Session, bay: int, serial: str) -> list[str]:
    """Who has confirmed the open wait, first first."""
    return list(
        session.scalars(
            select(OffloadConfirmation.username)
            .where(
                OffloadConfirmation.bay == bay,
                OffloadConfirmation.device_serial == serial,
                OffloadConfirmation.is_used.is_(False),
            )
            .order_by(OffloadConfirmation.id)
        )
    )


def is_confirmed(names: list[str]) -> bool:
    return len(set(names)) >= OFFLOAD_CONFIRMATIONS


def close_wait(session: Session, bay: int, serial: str) -> tuple[str, ...]:
    """The offload goes ahead: the confirmers, spent (their names go on with the clips)."""
    names = tuple(confirmers(session, bay, serial))
    _spend(session, bay, serial)
    return names


def abandon_wait(session: Session, bay: int, serial: str, *, at: datetime) -> None:
    """The recorder left while waiting: nothing was offloaded, and the journal says so."""
    names = tuple(confirmers(session, bay, serial))
    _spend(session, bay, serial)
    gone = OffloadNotConfirmed(bay=bay, device=serial, confirmed_by=names)
    journal.append(session, gone, actor=ACTOR, at=at)


def _spend(session: Session, bay: int, serial: str) -> None:
    session.execute(
        update(OffloadConfirmation)
        .where(
            OffloadConfirmation.bay == bay,
            OffloadConfirmation.device_serial == serial,
            OffloadConfirmation.is_used.is_(False),
        )
        .values(is_used=True)
    )

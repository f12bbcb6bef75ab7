"""One bay's state machine, persisted: each move is a row (and a journal entry) before its
side effects, so after a crash the database says exactly where every bay stood."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from dock import journal
from dock.bays.states import BayState, Trigger, next_state
from dock.clock import Clock
from dock.db.database import Database
from dock.db.models import Bay
from dock.events import BayStateChanged, Event

log = logging.getLogger(__name__)

ACTOR = "dock"


class BayMachine:
    def __init__(self, number: int, db: Database, clock: Clock) -> None:
        self.number = number
        self.db = db
        self.clock = clock
        self._lock = threading.Lock()
        with db.transaction() as session:
            row = session.get(Bay, number)
            if row is None:
                row = Bay(
                    number=number, state=BayState.EMPTY, reason="", updated_at=clock.now_utc()
                )
                session.add(row)
            self.state = BayState(row.state)
            self.device: str | None = row.device_serial
            self.reason = row.reason

    def move(
        self,
        trigger: Trigger,
        *,
        device: str | None = None,
        reason: str = "",
        events: Iterable[Event] = (),
        also: Callable[[Session], object] | None = None,
    ) -> BayState:
        """Make one legal move, journaled with `events` and `also`'s changes in one transaction.

        `device` names the recorder once it is known; it sticks until the bay empties.
        """
        with self._lock:
            target = next_state(self.number, self.state, trigger)
            serial = None if target is BayState.EMPTY else (device or self.device)
            at = self.clock.now_utc()
            with self.db.transaction() as session:
                row = session.get(Bay, self.number)
                assert row is not None
                row.state, row.reason, row.device_serial, row.updated_at = (
                    target,
                    reason,
                    serial,
                    at,
                )
                changed = BayStateChanged(
                    bay=self.number,
                    device=serial or self.device,
                    from_state=self.state,
                    to_state=target,
                    trigger=trigger,
                    reason=reason,
                )
                journal.append(session, changed, actor=ACTOR, at=at)
                for happened in events:
                    journal.append(session, happened, actor=ACTOR, at=at)
                if also is not None:
                    also(session)
            log.info(
                "bay %d: %s -> %s%s",
                self.number,
                self.state,
                target,
                f" ({reason})" if reason else "",
            )
            self.state, self.device, self.reason = target, serial, reason
            return target

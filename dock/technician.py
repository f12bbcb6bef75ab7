"""Technician mode at a bay: asked for at the bay's panel, entered with a technician's sign-in.

Sending firmware is the most dangerous thing done to a recorder, so the bay that takes a
reflash without a fresh sign-in is one a technician has put in technician mode: someone held
a button at the dock (the bay's own, or the technician button for every checked bay) and a
technician signed in for that bay through the command layer (`dock technician enter BAY`),
or signed in for it from the command line alone. Per bay:

    none --long press--> awaited --credential--> signed in --reflash done, recorder
      ^                     |                                undocked, `leave`--> none
      +-- no credential within CREDENTIAL_WAIT_S --+

Every move is one journal row (technician.mode_asked, mode_entered with the technician's
name, mode_left with why), and the bay lights follow those rows (dock.lights). The mode
lives in memory: a dock that restarts journals the modes it left open as left.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from dock import journal
from dock.bays.machine import BayMachine
from dock.bays.states import CHECKED
from dock.clock import Clock
from dock.db.database import Database
from dock.errors import DockError
from dock.events import TechnicianModeAsked, TechnicianModeEntered, TechnicianModeLeft
from dock.i18n import t
from dock.people.roles import Actor, Role, require

CREDENTIAL_WAIT_S = 120.0  # long enough to reach a terminal beside the dock and sign in
ACTOR = "dock"  # the dock itself: a fallback, a restart


class TechnicianModeRefused(DockError):
    """Technician mode cannot be entered or left as asked; the message says what to do."""


@dataclass
class _Mode:
    device: str | None
    until_s: float | None = None  # awaited: the monotonic time a credential must come by
    technician: Actor | None = None


class TechnicianDesk:
    """Every bay's technician mode; called from the panel, the control socket and the bays."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock
        self.machines: dict[int, BayMachine] = {}
        self._modes: dict[int, _Mode] = {}
        self._lock = threading.Lock()

    def add_bay(self, machine: BayMachine) -> None:
        self.machines[machine.number] = machine

    def ask(self, bays: Iterable[int], *, actor: str, now_s: float) -> list[int]:
        """A button held at now_s (the panel's monotonic clock): each checked bay waits
        CREDENTIAL_WAIT_S for a credential; the bays asked.

        A bay already waiting waits again from now; one already in the mode is left as it is."""
        asked = []
        with self._lock:
            until_s = now_s + CREDENTIAL_WAIT_S
            for bay in bays:
                machine = self.machines.get(bay)
                mode = self._modes.get(bay)
                if machine is None or machine.state not in CHECKED:
                    continue
                if mode is not None and mode.technician is not None:
                    continue
                if mode is None:
                    self._modes[bay] = _Mode(machine.device, until_s)
                    journal.record(
                        self.db,
                        TechnicianModeAsked(bay=bay, device=machine.device),
                        actor=actor,
                        clock=self.clock,
                    )
                else:
                    mode.until_s = until_s
                asked.append(bay)
        return asked

    def enter(self, bay: int, technician: Actor) -> None:
        """A technician's sign-in for the bay: its next reflash needs no other."""
        require(technician, Role.TECHNICIAN)
        with self._lock:
            machine = self.machines.get(bay)
            if machine is None:
                raise TechnicianModeRefused(
                    t(
                        "no bay {bay}: this dock has bays 1 to {count}",
                        bay=bay,
                        count=len(self.machines),
                    )
                )
            if machine.state not in CHECKED:
                raise TechnicianModeRefused(
                    t(
                        "bay {bay} has no checked recorder: dock one and wait for its verdict",
                        bay=bay,
                    )
                )
            mode = self._modes.get(bay)
            if mode is not None and mode.technician is not None:
                if mode.technician.username == technician.username:
                    return
                raise TechnicianModeRefused(
                    t("bay {bay} is in technician mode for {name}: `dock technician leave {bay}` first",
                      bay=bay, name=mode.technician.username)
                )  # fmt: skip
            self._modes[bay] = _Mode(machine.device, technician=technician)
            entered = TechnicianModeEntered(
                bay=bay, device=machine.device, username=technician.username
            )
            journal.record(self.db, entered, actor=technician.journal_name, clock=self.clock)

    def technician(self, bay: int) -> Actor | None:
        """Who has the bay in technician mode, if anyone."""
        with self._lock:
            mode = self._modes.get(bay)
            return None if mode is None else mode.technician

    def leave(self, bay: int, reason: str, *, actor: str = ACTOR) -> bool:
        """End the bay's mode (awaited or signed in), journaled; False when it had none."""
        with self._lock:
            mode = self._modes.pop(bay, None)
            if mode is None:
                return False
            journal.record(
                self.db,
                TechnicianModeLeft(bay=bay, device=mode.device, reason=reason),
                actor=actor,
                clock=self.clock,
            )
            return True

    def is_awaiting(self) -> bool:
        """Whether some bay waits for a credential (only then must someone watch the time)."""
        with self._lock:
            return any(m.until_s is not None for m in self._modes.values())

    def expire(self, now_s: float) -> list[int]:
        """Bays whose wait for a credential is over at now_s fall back, journaled; those bays."""
        with self._lock:
            late = [
                bay
                for bay, mode in self._modes.items()
                if mode.until_s is not None and mode.until_s <= now_s
            ]
        reason = f"no technician signed in within {CREDENTIAL_WAIT_S:g} s"
        return [bay for bay in late if self.leave(bay, reason)]

    def close_left_open(self) -> None:
        """At start: a mode the last run left open (a crash, a stop) is journaled as left."""
        wanted = tuple(t.type for t in (TechnicianModeAsked, TechnicianModeEntered))
        with self.db.transaction() as session:
            last: dict[int, journal.JournalEntry] = {}
            for entry in journal.latest(session, limit=1000, type_prefixes=("technician.",)):
                if entry.bay is not None:
                    last[entry.bay] = entry
            for bay, entry in sorted(last.items()):
                if entry.type in wanted and bay in self.machines:
                    left = TechnicianModeLeft(bay=bay, device=entry.device, reason="dock restarted")
                    journal.append(session, left, actor=ACTOR, at=self.clock.now_utc())

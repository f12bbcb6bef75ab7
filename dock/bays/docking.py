"""What happens when a recorder lands in a bay: identify it, prove it is ours, check it.

The conversation follows PROTOCOL.md ("A docking conversation") and moves the bay's state
machine at each step. Database transactions stay short and never span a link request: a
recorder that stops answering must not hold the journal's write lock.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from dock import ledger
from dock.bays.machine import ACTOR, BayMachine
from dock.bays.states import BayState, Trigger
from dock.check import (
    CheckLimits,
    ClockOutcome,
    LedgerFacts,
    RecorderFacts,
    Verdict,
    judge,
    judge_ledger,
)
from dock.clock import Clock
from dock.config import CheckSettings
from dock.errors import DockError
from dock.events import CheckCompleted, ClockSet, RecorderDocked, RecorderIdentified
from dock.offload.ingest import Offloader, OffloadReport
from firmware_bridge.client import ClipInfo, Identity, RecorderClient
from firmware_bridge.errors import AuthenticationFailed, LinkError, ProtocolMismatch, Refused
from hw.clock_sync import ClockSync

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DockingResult:
    state: BayState
    verdict: Verdict | None = None
    identity: Identity | None = None
    offload: OffloadReport | None = None


class DockingConversation:
    """One recorder, one bay, one insertion."""

    def __init__(
        self,
        machine: BayMachine,
        client: RecorderClient,
        usb_port_path: str,
        *,
        clock: Clock,
        clock_sync: ClockSync,
        check: CheckSettings,
        offloader: Offloader | None = None,
    ) -> None:
        self.machine = machine
        self.offloader = offloader
        self.usb_port_path = usb_port_path  # where its storage appears once unlocked
        self.last_offload: OffloadReport | None = None
        self.client = client
        self.clock = clock
        self.clock_sync = clock_sync
        self.limits = CheckLimits(**asdict(check))
        self.db = machine.db

    def dock(self) -> DockingResult:
        """From EMPTY: the recorder just arrived."""
        bay = self.machine.number
        self.machine.move(
            Trigger.DOCKED, events=[RecorderDocked(bay=bay, usb_port_path=self.usb_port_path)]
        )
        return self.identify_and_check()

    def identify_and_check(self) -> DockingResult:
        """From IDENTIFYING. A lost link leaves the bay in FAULT; nothing is half-written."""
        try:
            return self._identify_and_check()
        except LinkError as err:
            self.machine.move(Trigger.LINK_LOST, reason=f"the recorder stopped answering: {err}")
            return DockingResult(self.machine.state)

    def _identify_and_check(self) -> DockingResult:
        try:
            self.client.hello()
        except ProtocolMismatch as err:
            self.machine.move(Trigger.NOT_ACCEPTED, reason=str(err))
            return DockingResult(self.machine.state)
        identity = self.client.identify()
        serial = identity.device_serial
        is_key_proven = self._authenticate(serial)
        now = self.clock.now_utc()
        recorded_by = None  # the officer whose clips these are: who carried it, else assigned
        with self.db.transaction() as session:
            facts = ledger.ledger_facts(session, serial, is_key_proven=is_key_proven)
            if facts.is_registered and is_key_proven:
                # Only a recorder that proved it is ours may change the ledger.
                ledger.record_firmware(
                    session, serial, identity.firmware_version, actor=ACTOR, at=now
                )
                custody = ledger.return_(session, serial, self.machine.number, actor=ACTOR, at=now)
                officer = custody.officer if custody else ledger.assigned_officer(session, serial)
                recorded_by = officer.officer_number if officer is not None else None
        identified = RecorderIdentified(
            bay=self.machine.number,
            device=serial,
            model=identity.model,
            firmware_version=identity.firmware_version,
            protocol_version=identity.protocol_version,
            is_key_proven=is_key_proven,
        )
        if not (facts.is_registered and is_key_proven):
            verdict = Verdict(tuple(judge_ledger(serial, facts)))
            self._finish(Trigger.NOT_ACCEPTED, serial, verdict, [identified])
            return DockingResult(self.machine.state, verdict, identity)
        clips = self.client.list_clips() if self.offloader is not None else []
        if not clips:
            self.machine.move(Trigger.IDENTIFIED, device=serial, events=[identified])
        else:
            self.machine.move(Trigger.NEEDS_OFFLOAD, device=serial, events=[identified])
            problem = self._offload(serial, recorded_by, clips)
            if problem:
                self.machine.move(Trigger.OFFLOAD_FAILED, reason=problem)
                return DockingResult(self.machine.state, None, identity, self.last_offload)
            self.machine.move(Trigger.OFFLOAD_DONE)
        verdict = self._check(identity, facts)
        return DockingResult(self.machine.state, verdict, identity, self.last_offload)

    def _offload(self, serial: str, officer_number: str | None, clips: list[ClipInfo]) -> str:
        """Take the clips off; return why the bay needs a person, or "" when all went well."""
        assert self.offloader is not None
        try:
            report = self.offloader.offload(
                self.machine.number, self.usb_port_path, self.client, serial, officer_number, clips
            )
        except DockError as err:  # the volume could not be found or read
            return f"offload stopped: {err}"
        self.last_offload = report
        return report.problem()

    def _authenticate(self, serial: str) -> bool:
        with self.db.transaction() as session:
            key = ledger.paired_key(session, serial)
        if key is None:
            return False
        try:
            self.client.authenticate(key)
        except (AuthenticationFailed, Refused) as err:
            log.warning("bay %d: recorder %s: %s", self.machine.number, serial, err)
            return False
        return True

    def _check(self, identity: Identity, ledger_facts: LedgerFacts) -> Verdict:
        serial = identity.device_serial
        status = self.client.status()
        clock = self._correct_clock(status.clock_utc)
        facts = RecorderFacts(
            serial=serial,
            firmware_version=identity.firmware_version,
            battery_pct=status.battery_pct,
            is_charging=status.is_charging,
            storage_free_bytes=status.storage_free_bytes,
            clock=clock,
        )
        verdict = judge(facts, ledger_facts, self.limits)
        events = []
        if clock.was_set and clock.drift_after_s is not None:
            events.append(
                ClockSet(
                    bay=self.machine.number,
                    device=serial,
                    drift_before_s=clock.drift_s,
                    drift_after_s=clock.drift_after_s,
                )
            )
        trigger = Trigger.CHECK_PASSED if verdict.is_ready else Trigger.CHECK_FAILED
        self._finish(trigger, serial, verdict, events)
        return verdict

    def _correct_clock(self, recorder_clock) -> ClockOutcome:
        """Set the recorder's clock from ours, only when ours is synchronised; read it back."""
        drift_s = (recorder_clock - self.clock.now_utc()).total_seconds()
        if not self.clock_sync.is_synchronised():
            return ClockOutcome(drift_s=drift_s, is_dock_synchronised=False)
        self.client.set_clock(self.clock.now_utc())
        after = self.client.status().clock_utc
        drift_after_s = (after - self.clock.now_utc()).total_seconds()
        return ClockOutcome(
            drift_s=drift_s, is_dock_synchronised=True, was_set=True, drift_after_s=drift_after_s
        )

    def _finish(self, trigger: Trigger, serial: str, verdict: Verdict, events: list) -> None:
        completed = CheckCompleted(
            bay=self.machine.number,
            device=serial,
            verdict=verdict.word,
            reasons=tuple(r.text for r in verdict.reasons),
            reason_codes=tuple(r.code for r in verdict.reasons),
        )
        self.machine.move(
            trigger, device=serial, reason=verdict.summary(), events=[*events, completed]
        )


def undock(machine: BayMachine) -> BayState:
    """The recorder left the bay. A READY one goes out with its officer: that is an issue."""
    serial, was_ready = machine.device, machine.state is BayState.READY
    if machine.state is BayState.EMPTY:
        return machine.state

    def issue(session) -> None:
        if not (was_ready and serial is not None):
            return
        try:
            ledger.issue(session, serial, machine.number, actor=ACTOR, at=machine.clock.now_utc())
        except ledger.LedgerError as err:
            # The recorder is gone either way; the bay must still empty. The journal has the
            # move, and the log says why the issue was not recorded.
            log.warning("bay %d: %s", machine.number, err)

    return machine.move(Trigger.UNDOCKED, reason="recorder taken out", also=issue)

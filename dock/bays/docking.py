"""What happens when a recorder lands in a bay: identify it, prove it is ours, check it.

The conversation follows PROTOCOL.md ("A docking conversation") and moves the bay's state
machine at each step. Database transactions stay short and never span a link request: a
recorder that stops answering must not hold the journal's write lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta

from dock import journal, ledger
from dock.bays.machine import ACTOR, BayMachine
from dock.bays.states import BayState, Trigger
from dock.check import (
    CheckLimits,
    ClockOutcome,
    LedgerFacts,
    Reason,
    RecorderFacts,
    Verdict,
    is_plausible_clock,
    judge,
    judge_ledger,
    judge_offload,
    judge_refusal,
)
from dock.clock import Clock
from dock.config import CheckSettings
from dock.errors import DockError
from dock.events import (
    CheckCompleted,
    ClockSet,
    Event,
    RecorderClaimRejected,
    RecorderDocked,
    RecorderIdentified,
    RecorderRefused,
    VoiceNotesNeeded,
)
from dock.interruptions import reading
from dock.interruptions.timeline import Interruption
from dock.offload import deferred_delete
from dock.offload.ingest import Offloader, OffloadReport
from dock.people import offload_confirmations
from firmware_bridge.client import EPOCH, ClipInfo, Identity, RecorderClient
from firmware_bridge.errors import (
    AuthenticationFailed,
    LinkError,
    ListingTooSlow,
    ProtocolMismatch,
    Refused,
    TooManyClips,
)
from hw.clock_sync import ClockSync

log = logging.getLogger(__name__)

# Where a bay goes when the recorder needs a person, from each state of the conversation.
_NEEDS_PERSON = {
    BayState.IDENTIFYING: Trigger.NOT_ACCEPTED,
    BayState.OFFLOADING: Trigger.OFFLOAD_FAILED,
    BayState.CHECKING: Trigger.CHECK_FAILED,
}


AWAITING_STAFF = "waiting for two staff to confirm the offload at the dock"


@dataclass(frozen=True)
class DockingResult:
    state: BayState
    verdict: Verdict | None = None
    identity: Identity | None = None
    offload: OffloadReport | None = None
    is_awaiting_staff: bool = False  # two-person offload: storage locked until two confirm


@dataclass(frozen=True)
class _Identified:
    """What the conversation knows once the recorder proved itself: the offload's context."""

    identity: Identity
    facts: LedgerFacts
    recorded_by: str | None
    clips: list[ClipInfo]


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
        awaits_two_staff: bool = False,
    ) -> None:
        """awaits_two_staff: the offload waits (storage locked) for `offload_confirmed`."""
        self.machine = machine
        self.awaits_two_staff = awaits_two_staff
        self._identified: _Identified | None = None
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
        """From IDENTIFYING. A lost link leaves the bay in FAULT; nothing is half-written.

        A recorder that answers "no" has not stopped answering: its refusal, or a claim the
        dock will not take, is journaled and the bay asks for a person, saying which.
        """
        return self._guarded(self._identify_and_check)

    def offload_confirmed(self, confirmed_by: tuple[str, ...]) -> DockingResult:
        """The step after the wait: two staff confirmed, so offload and check on this link."""
        assert self._identified is not None, "offload_confirmed before the recorder waited"
        return self._guarded(lambda: self._offload_and_check(confirmed_by))

    def _guarded(self, step: Callable[[], DockingResult]) -> DockingResult:
        try:
            return step()
        except LinkError as err:
            self.machine.move(Trigger.LINK_LOST, reason=f"the recorder stopped answering: {err}")
            return DockingResult(self.machine.state)
        except Refused as err:
            return self._needs_person(str(err), self._refused(err))
        except TooManyClips as err:
            claim = RecorderClaimRejected(
                bay=self.machine.number,
                device=self.client.device_serial,
                claim="clip_count",
                claimed=err.claimed,
                limit=err.limit,
            )
            return self._needs_person(str(err), claim)
        except ListingTooSlow as err:
            claim = RecorderClaimRejected(
                bay=self.machine.number,
                device=self.client.device_serial,
                claim="listing_s",
                claimed=int(err.elapsed_s),
                limit=int(err.limit_s),
            )
            return self._needs_person(str(err), claim)

    def _needs_person(self, reason: str, happened: Event) -> DockingResult:
        log.warning("bay %d: %s", self.machine.number, reason)
        trigger = _NEEDS_PERSON[self.machine.state]
        self.machine.move(trigger, device=happened.device, reason=reason, events=[happened])
        return DockingResult(self.machine.state, offload=self.last_offload)

    def _refused(self, err: Refused) -> RecorderRefused:
        return RecorderRefused(
            bay=self.machine.number,
            device=self.client.device_serial,
            request=err.request,
            code=err.code,
            error=err.error_name,
            detail=err.detail,
        )

    def _identify_and_check(self) -> DockingResult:
        try:
            self.client.hello()
        except ProtocolMismatch as err:
            # The serial is the recorder's own word, unproven: shown so a person finds it.
            log.warning("bay %d: %s", self.machine.number, err)
            self.machine.move(Trigger.NOT_ACCEPTED, device=err.serial or None, reason=str(err))
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
        # Even an empty listing is offloaded: the card, not the listing, says what is on it.
        if self.offloader is None:
            self.machine.move(Trigger.IDENTIFIED, device=serial, events=[identified])
            self._identified = _Identified(identity, facts, recorded_by, [])
            return self._checked([])
        clips = self._list_clips()
        self._read_events(serial)
        self._identified = _Identified(identity, facts, recorded_by, clips)
        if self.awaits_two_staff:  # 003 art.21: the storage stays locked until two confirm
            bay = self.machine.number
            self.machine.move(
                Trigger.NEEDS_OFFLOAD,
                device=serial,
                reason=AWAITING_STAFF,
                events=[identified],
                also=lambda session: offload_confirmations.open_wait(
                    session, bay, serial, at=self.clock.now_utc()
                ),
            )
            return DockingResult(self.machine.state, None, identity, is_awaiting_staff=True)
        self.machine.move(Trigger.NEEDS_OFFLOAD, device=serial, events=[identified])
        return self._offload_and_check(())

    def _offload_and_check(self, confirmed_by: tuple[str, ...]) -> DockingResult:
        """From OFFLOADING: take the clips off, then the check (confirmed_by: two-person)."""
        assert self.offloader is not None and self._identified is not None
        identity, recorded_by = self._identified.identity, self._identified.recorded_by
        serial = identity.device_serial
        problem = self._offload(serial, recorded_by, self._identified.clips, confirmed_by)
        if problem:
            also = [r.text for r in self._offload_reasons()]
            self.machine.move(Trigger.OFFLOAD_FAILED, reason="; ".join([problem, *also]))
            return DockingResult(self.machine.state, None, identity, self.last_offload)
        self.machine.move(Trigger.OFFLOAD_DONE)
        unexplained = reading.update_interruptions(
            self.db,
            serial,
            self.machine.number,
            self.clock,
            self.offloader.settings.interruptions,
        )
        return self._checked(unexplained)

    def _checked(self, unexplained: list[Interruption]) -> DockingResult:
        """From CHECKING: the verdict, then the voice notes the recorder's interruptions owe."""
        assert self._identified is not None
        identity, facts = self._identified.identity, self._identified.facts
        verdict = self._check(identity, facts, self._offload_reasons())
        if unexplained:
            serial = identity.device_serial
            self._ask_for_notes(serial, self._identified.recorded_by, unexplained)
        return DockingResult(self.machine.state, verdict, identity, self.last_offload)

    def _list_clips(self) -> list[ClipInfo]:
        """The recorder's listing, bounded in count (so in memory) and in time."""
        assert self.offloader is not None
        bounds = self.offloader.settings.offload
        start_s = self.clock.monotonic_s()
        clips = []
        for clip in self.client.iter_clips(max_total=bounds.max_listed_clips):
            clips.append(clip)
            elapsed_s = self.clock.monotonic_s() - start_s
            if elapsed_s > bounds.max_listing_s:
                raise ListingTooSlow(len(clips), elapsed_s, bounds.max_listing_s)
        return clips

    def _read_events(self, serial: str) -> None:
        """The event log from the saved cursor; a refusal is journaled, not fatal."""
        try:
            reading.read_event_log(self.db, self.client, serial, self.machine.number, self.clock)
        except Refused as err:
            log.warning("bay %d: recorder %s: %s", self.machine.number, serial, err)
            with self.db.transaction() as session:
                journal.append(session, self._refused(err), actor=ACTOR, at=self.clock.now_utc())

    def _ask_for_notes(self, serial: str, officer: str | None, owed: list[Interruption]) -> None:
        """After the bay's move, in its own transaction: the lights and the CLI follow it."""
        asked = VoiceNotesNeeded(
            bay=self.machine.number,
            device=serial,
            officer_number=officer,
            keys=tuple(i.key for i in owed),
            described=tuple(i.describe() for i in owed),
        )
        with self.db.transaction() as session:
            journal.append(session, asked, actor=ACTOR, at=self.clock.now_utc())

    def _offload(
        self,
        serial: str,
        officer_number: str | None,
        clips: list[ClipInfo],
        confirmed_by: tuple[str, ...] = (),
    ) -> str:
        """Take the clips off; return why the bay needs a person, or "" when all went well."""
        assert self.offloader is not None
        try:
            report = self.offloader.offload(
                self.machine.number,
                self.usb_port_path,
                self.client,
                serial,
                officer_number,
                clips,
                confirmed_by=confirmed_by,
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

    def _offload_reasons(self) -> tuple[Reason, ...]:
        report = self.last_offload
        if report is None:
            return ()
        return tuple(judge_offload(report.card_problems, report.delete_refused))

    def _waiting_for_copy(self, serial: str) -> dict[str, int]:
        """Clips kept on the recorder for their central copy, under "after_central_copy"."""
        if self.offloader is None or self.offloader.settings.offload.delete_policy != (
            "after_central_copy"
        ):
            return {}
        count, size_bytes = deferred_delete.waiting_for_copy(self.db, serial)
        return {"waiting_for_copy_count": count, "waiting_for_copy_bytes": size_bytes}

    def _check(
        self, identity: Identity, ledger_facts: LedgerFacts, problems: tuple[Reason, ...] = ()
    ) -> Verdict:
        serial = identity.device_serial
        events: list[Event] = []
        try:
            status = self.client.status()
        except Refused as err:
            events.append(self._refused(err))
            reasons = judge_ledger(serial, ledger_facts)
            reasons.append(judge_refusal(err.request, err.error_name))
            verdict = Verdict((*reasons, *problems))
            self._finish(Trigger.CHECK_FAILED, serial, verdict, events)
            return verdict
        refusals: list[Reason] = []
        clock = self._correct_clock(status.clock_utc_ms, events, refusals)
        facts = RecorderFacts(
            serial=serial,
            firmware_version=identity.firmware_version,
            battery_pct=status.battery_pct,
            is_charging=status.is_charging,
            storage_total_bytes=status.storage_total_bytes,
            storage_free_bytes=status.storage_free_bytes,
            clock=clock,
            **self._waiting_for_copy(serial),
        )
        verdict = judge(facts, ledger_facts, self.limits, (*refusals, *problems))
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

    def _correct_clock(
        self, recorder_clock_utc_ms: int, events: list[Event], refusals: list[Reason]
    ) -> ClockOutcome:
        """Set the recorder's clock from ours, only when ours is synchronised; read it back.

        Worked in milliseconds, not datetimes: a recorder's clock can read anything, and a
        reading no clock shows is a finding for the verdict, not a crash of the check.
        """
        drift_s = (recorder_clock_utc_ms - self._now_ms()) / 1000
        impossible = None if is_plausible_clock(recorder_clock_utc_ms) else recorder_clock_utc_ms
        if not self.clock_sync.is_synchronised():
            return ClockOutcome(
                drift_s=drift_s, is_dock_synchronised=False, impossible_clock_utc_ms=impossible
            )
        try:
            self.client.set_clock(self.clock.now_utc())
        except Refused as err:
            events.append(self._refused(err))
            return ClockOutcome(
                drift_s=drift_s,
                is_dock_synchronised=True,
                set_refused=err.error_name,
                impossible_clock_utc_ms=impossible,
            )
        try:
            after_ms = self.client.status().clock_utc_ms
        except Refused as err:
            events.append(self._refused(err))
            refusals.append(judge_refusal(err.request, err.error_name))
            return ClockOutcome(
                drift_s=drift_s,
                is_dock_synchronised=True,
                was_set=True,
                impossible_clock_utc_ms=impossible,
            )
        if impossible is None and not is_plausible_clock(after_ms):
            impossible = after_ms
        return ClockOutcome(
            drift_s=drift_s,
            is_dock_synchronised=True,
            was_set=True,
            drift_after_s=(after_ms - self._now_ms()) / 1000,
            impossible_clock_utc_ms=impossible,
        )

    def _now_ms(self) -> int:
        return (self.clock.now_utc() - EPOCH) // timedelta(milliseconds=1)

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

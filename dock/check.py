"""The pre-shift check: is this recorder fit to go out with an officer?

The rules (MISSION.md; 002 art.7, 003 art.15, 004 art.8) ask, before use, for a working
device, a battery full enough, room to record the shift, the right time, and one named
person responsible for it. This module only judges facts gathered elsewhere; it talks to
nothing, so every reason can be tested on its own. Each reason is written for the officer
at the bay: what is wrong and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GB = 1_000_000_000
# No working recorder clock reads before 1970 or from 2100 on: such a reading is the RTC's
# failure (a dead clock battery, a corrupt register), not a drift to correct and forget.
MIN_PLAUSIBLE_CLOCK_UTC_MS = 0
MAX_PLAUSIBLE_CLOCK_UTC_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z


@dataclass(frozen=True)
class Reason:
    code: str  # stable, for reports and lights
    text: str  # for the officer, one line


@dataclass(frozen=True)
class ClockOutcome:
    """What happened to the recorder's clock during the check."""

    drift_s: float  # recorder minus dock, before any correction
    is_dock_synchronised: bool
    was_set: bool = False
    drift_after_s: float | None = None  # read back after setting
    set_refused: str = ""  # the recorder's error when it refused SetClock
    impossible_clock_utc_ms: int | None = None  # a reading no working clock shows


def is_plausible_clock(clock_utc_ms: int) -> bool:
    return MIN_PLAUSIBLE_CLOCK_UTC_MS <= clock_utc_ms < MAX_PLAUSIBLE_CLOCK_UTC_MS


@dataclass(frozen=True)
class RecorderFacts:
    serial: str
    firmware_version: str
    battery_pct: int
    is_charging: bool
    storage_total_bytes: int
    storage_free_bytes: int
    clock: ClockOutcome
    # Clips kept on the card until their central copy is confirmed ("after_central_copy"):
    # space the dock cannot free at this docking, named in the storage reason.
    waiting_for_copy_count: int = 0
    waiting_for_copy_bytes: int = 0


@dataclass(frozen=True)
class LedgerFacts:
    is_registered: bool
    is_key_proven: bool
    officer_name: str | None  # the assigned officer, None when unassigned
    maintenance_state: str  # "in_service" | "under_repair" | "retired"


@dataclass(frozen=True)
class CheckLimits:
    min_battery_pct: int
    shift_hours: float
    bitrate_mbps: float
    max_clock_drift_s: float
    allowed_firmware: tuple[str, ...]  # empty: any version is allowed

    def shift_storage_bytes(self) -> int:
        return int(self.bitrate_mbps * 1_000_000 / 8 * self.shift_hours * 3600)


@dataclass(frozen=True)
class Verdict:
    reasons: tuple[Reason, ...] = field(default=())

    @property
    def is_ready(self) -> bool:
        return not self.reasons

    @property
    def word(self) -> str:
        return "READY" if self.is_ready else "NOT READY"

    def summary(self) -> str:
        if self.is_ready:
            return "READY"
        return "NOT READY: " + "; ".join(r.text for r in self.reasons)


def judge_ledger(serial: str, ledger: LedgerFacts) -> list[Reason]:
    """Reasons that come from who the recorder is, before asking it anything else."""
    if not ledger.is_registered:
        return [
            Reason(
                "unregistered",
                f"recorder {serial} is not registered at this dock: a custodian must register it",
            )
        ]
    reasons = []
    if not ledger.is_key_proven:
        reasons.append(
            Reason(
                "key_not_proven",
                "the recorder did not prove its pairing key: it may not be this agency's; "
                "hand it to a custodian",
            )
        )
    if ledger.maintenance_state != "in_service":
        state = ledger.maintenance_state.replace("_", " ")
        reasons.append(
            Reason("maintenance", f"the recorder is marked {state}: it may not be issued")
        )
    if ledger.officer_name is None:
        reasons.append(
            Reason(
                "unassigned",
                "the recorder is not assigned to an officer: a custodian must assign it",
            )
        )
    return reasons


def judge_recorder(facts: RecorderFacts, limits: CheckLimits) -> list[Reason]:
    reasons = []
    if limits.allowed_firmware and facts.firmware_version not in limits.allowed_firmware:
        reasons.append(
            Reason(
                "firmware",
                f"firmware {facts.firmware_version} is not on the agency's allowed list: "
                "a technician must reflash it",
            )
        )
    if facts.battery_pct < limits.min_battery_pct:
        what = (
            "leave it in the bay to charge"
            if facts.is_charging
            else "it is not charging: check the bay"
        )
        reasons.append(
            Reason(
                "battery",
                f"battery {facts.battery_pct}%, needs at least {limits.min_battery_pct}%: {what}",
            )
        )
    need = limits.shift_storage_bytes()
    if facts.storage_free_bytes > facts.storage_total_bytes:
        # Neither figure can be trusted, so neither is shown as free space.
        reasons.append(
            Reason(
                "storage_impossible",
                "the recorder reports more free storage than its card holds "
                f"({facts.storage_total_bytes / GB:.1f} GB): its card or firmware is faulty; "
                "hand it to a technician",
            )
        )
    elif facts.storage_free_bytes < need and facts.waiting_for_copy_count:
        reasons.append(
            Reason(
                "storage_waiting_for_copy",
                f"{facts.storage_free_bytes / GB:.1f} GB free, a {limits.shift_hours:g}-hour shift "
                f"needs {need / GB:.1f} GB; {facts.waiting_for_copy_count} clip(s) "
                f"({facts.waiting_for_copy_bytes / GB:.1f} GB) stay on the recorder until their "
                "central copy is confirmed: leave it docked until they are copied",
            )
        )
    elif facts.storage_free_bytes < need:
        reasons.append(
            Reason(
                "storage",
                f"{facts.storage_free_bytes / GB:.1f} GB free, a {limits.shift_hours:g}-hour shift "
                f"needs {need / GB:.1f} GB: offload the recorder",
            )
        )
    reasons.extend(judge_clock(facts.clock, limits.max_clock_drift_s))
    return reasons


def judge_clock(clock: ClockOutcome, max_drift_s: float) -> list[Reason]:
    if clock.impossible_clock_utc_ms is not None:
        return [
            Reason(
                "clock_impossible",
                f"the recorder's clock read {clock.impossible_clock_utc_ms} ms since 1970, "
                "which no working clock shows: its clock battery may have failed; "
                "call a technician",
            )
        ]
    if clock.set_refused:
        return [
            Reason(
                "clock_refused",
                f"the recorder refused to set its clock ({clock.set_refused}): its clock "
                "battery may have failed; call a technician",
            )
        ]
    if not clock.is_dock_synchronised:
        return [
            Reason(
                "dock_clock",
                "the dock's own clock is not synchronised, so the recorder's clock was not set: "
                "call a technician",
            )
        ]
    drift = clock.drift_after_s if clock.was_set else clock.drift_s
    if drift is None or abs(drift) > max_drift_s:
        return [
            Reason(
                "clock",
                f"the recorder's clock is {abs(clock.drift_s):.0f} s off and could not be "
                "corrected: call a technician",
            )
        ]
    return []


def judge_offload(card_problems: list[str], delete_refused_count: int) -> list[Reason]:
    """What the offload found that a person must see before the recorder goes out again.

    A card whose own metadata cannot be true (a backup boot sector that disagrees, more free
    clusters than the volume has) was read trusting the primary, and may be failing; a
    recorder that refused to delete a clip we hold still holds it, and said no for a reason.
    """
    reasons = [
        Reason("card", f"the recorder's card: {problem.rstrip('.')}: hand it to a technician")
        for problem in card_problems
    ]
    if delete_refused_count:
        reasons.append(
            Reason(
                "delete_refused",
                f"the recorder refused to delete {delete_refused_count} clip(s) the dock "
                "stored; they stay on it: hand it to a custodian",
            )
        )
    return reasons


def judge_refusal(request: str, error_name: str) -> Reason:
    """The recorder said no to a request the check needs: the verdict names what and why."""
    if request == "GetStatus":
        return Reason(
            "status_refused",
            f"the recorder refused to report its battery, storage and clock ({error_name}): "
            "call a technician",
        )
    return Reason("refused", f"the recorder refused {request} ({error_name}): call a technician")


def judge(
    facts: RecorderFacts,
    ledger: LedgerFacts,
    limits: CheckLimits,
    problems: tuple[Reason, ...] = (),
) -> Verdict:
    """The verdict from the ledger, the recorder's facts and the problems found on the way
    (the card's own problems from the offload, a request the recorder refused)."""
    reasons = judge_ledger(facts.serial, ledger) + judge_recorder(facts, limits)
    return Verdict(tuple(reasons + list(problems)))

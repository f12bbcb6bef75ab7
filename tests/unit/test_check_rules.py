"""The pre-shift check's rules, one fact at a time."""

from dataclasses import replace

from dock.check import (
    CheckLimits,
    ClockOutcome,
    LedgerFacts,
    RecorderFacts,
    judge,
    judge_refusal,
)

LIMITS = CheckLimits(
    min_battery_pct=80,
    shift_hours=10,
    bitrate_mbps=8,
    max_clock_drift_s=2,
    allowed_firmware=("1.4.2", "1.5.0"),
)
FIT = RecorderFacts(
    serial="ZFY00001",
    firmware_version="1.5.0",
    battery_pct=95,
    is_charging=True,
    storage_total_bytes=128 * 10**9,
    storage_free_bytes=64 * 10**9,
    clock=ClockOutcome(drift_s=0.3, is_dock_synchronised=True),
)
KNOWN = LedgerFacts(
    is_registered=True, is_key_proven=True, officer_name="王伟", maintenance_state="in_service"
)


def codes(facts=FIT, ledger=KNOWN):
    return [r.code for r in judge(facts, ledger, LIMITS).reasons]


def test_a_fit_registered_assigned_recorder_is_ready():
    verdict = judge(FIT, KNOWN, LIMITS)
    assert verdict.is_ready and verdict.summary() == "READY"


def test_low_battery_is_not_ready_and_says_the_minimum():
    verdict = judge(replace(FIT, battery_pct=35), KNOWN, LIMITS)
    assert [r.code for r in verdict.reasons] == ["battery"]
    assert "35%" in verdict.summary() and "80%" in verdict.summary()


def test_storage_must_hold_a_whole_shift_at_the_recorder_bitrate():
    need = LIMITS.shift_storage_bytes()
    assert need == 36 * 10**9  # 8 Mbit/s for 10 hours
    assert codes(replace(FIT, storage_free_bytes=need - 1)) == ["storage"]
    assert codes(replace(FIT, storage_free_bytes=need)) == []


def test_clock_off_but_corrected_and_read_back_is_ready():
    clock = ClockOutcome(drift_s=7200, is_dock_synchronised=True, was_set=True, drift_after_s=0.1)
    assert codes(replace(FIT, clock=clock)) == []


def test_clock_that_did_not_take_the_new_time_is_not_ready():
    clock = ClockOutcome(drift_s=7200, is_dock_synchronised=True, was_set=True, drift_after_s=7200)
    assert codes(replace(FIT, clock=clock)) == ["clock"]


def test_unsynchronised_dock_clock_is_not_ready_and_says_why():
    clock = ClockOutcome(drift_s=0.1, is_dock_synchronised=False)
    verdict = judge(replace(FIT, clock=clock), KNOWN, LIMITS)
    assert [r.code for r in verdict.reasons] == ["dock_clock"]
    assert "not synchronised" in verdict.summary()


def test_firmware_outside_the_allowed_list_is_not_ready():
    assert codes(replace(FIT, firmware_version="0.9.0")) == ["firmware"]


def test_an_empty_allowed_list_allows_any_firmware():
    limits = replace(LIMITS, allowed_firmware=())
    assert judge(replace(FIT, firmware_version="0.9.0"), KNOWN, limits).is_ready


def test_unregistered_recorder_gets_one_reason_naming_its_serial():
    ledger = LedgerFacts(False, False, None, "in_service")
    verdict = judge(FIT, ledger, LIMITS)
    assert [r.code for r in verdict.reasons] == ["unregistered"]
    assert "ZFY00001" in verdict.summary()


def test_wrong_key_under_repair_and_unassigned_are_each_named():
    ledger = LedgerFacts(True, False, None, "under_repair")
    assert codes(ledger=ledger) == ["key_not_proven", "maintenance", "unassigned"]


def test_every_failing_fact_is_listed_not_just_the_first():
    bad = replace(FIT, battery_pct=10, storage_free_bytes=0, firmware_version="x")
    assert codes(bad) == ["firmware", "battery", "storage"]


def test_more_free_than_total_storage_is_not_ready_and_shows_no_free_figure():
    verdict = judge(
        replace(FIT, storage_total_bytes=4 * 10**9, storage_free_bytes=12 * 10**9), KNOWN, LIMITS
    )
    assert [r.code for r in verdict.reasons] == ["storage_impossible"]
    assert "12.0" not in verdict.summary() and "free storage than its card holds" in (
        verdict.summary()
    )


def test_free_equal_to_total_storage_is_a_possible_empty_card():
    assert codes(replace(FIT, storage_total_bytes=64 * 10**9)) == []


def test_an_impossible_clock_reading_is_not_ready_even_after_a_good_read_back():
    clock = ClockOutcome(
        drift_s=9e12,
        is_dock_synchronised=True,
        was_set=True,
        drift_after_s=0.0,
        impossible_clock_utc_ms=2**63 - 1,
    )
    verdict = judge(replace(FIT, clock=clock), KNOWN, LIMITS)
    assert [r.code for r in verdict.reasons] == ["clock_impossible"]
    assert "clock battery" in verdict.summary()


def test_a_refused_set_clock_is_not_ready_and_names_the_clock_battery():
    clock = ClockOutcome(drift_s=0.5, is_dock_synchronised=True, set_refused="clock fault")
    verdict = judge(replace(FIT, clock=clock), KNOWN, LIMITS)
    assert [r.code for r in verdict.reasons] == ["clock_refused"]
    assert "refused to set its clock" in verdict.summary()
    assert "clock battery may have failed" in verdict.summary()


def test_problems_found_on_the_way_join_the_verdict_after_the_recorders_own():
    refusal = judge_refusal("GetStatus", "storage fault")
    verdict = judge(replace(FIT, battery_pct=10), KNOWN, LIMITS, (refusal,))
    assert [r.code for r in verdict.reasons] == ["battery", "status_refused"]


def test_clips_waiting_for_their_central_copy_leaving_too_little_room_are_named_as_the_reason():
    need = LIMITS.shift_storage_bytes()
    waiting = replace(
        FIT,
        storage_free_bytes=need - 1,
        waiting_for_copy_count=3,
        waiting_for_copy_bytes=30 * 10**9,
    )
    verdict = judge(waiting, KNOWN, LIMITS)
    assert [r.code for r in verdict.reasons] == ["storage_waiting_for_copy"]
    assert "3 clip(s) (30.0 GB)" in verdict.summary()
    assert "central copy is confirmed" in verdict.summary()
    assert codes(replace(waiting, storage_free_bytes=need)) == []

"""The shift's timeline from crafted event logs and clip lists, checked field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dock.interruptions.timeline import (
    REASONS,
    ClipSpan,
    Explanation,
    Found,
    Interruption,
    RecordingSession,
    Status,
    build_timeline,
    reason_for,
)
from firmware_bridge import messages as m
from firmware_bridge.client import RecorderEvent

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
T0_S = int(T0.timestamp())
DEVICE = "ZFY00001"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def log(*entries: tuple[int, int] | tuple[int, int, int] | tuple[int, int, int, str]):
    """(offset_s, kind[, reason[, clip_path]]) in log order."""
    events = []
    for index, entry in enumerate(entries):
        offset_s, kind, *rest = entry
        reason = rest[0] if rest else m.REASON_NONE
        path = rest[1] if len(rest) > 1 else ""
        events.append(RecorderEvent(index, T0_S + offset_s, kind, reason, path))
    return events


def clip(path: str, start_s: float, end_s: float, officer: str | None = "310115") -> ClipSpan:
    return ClipSpan(path, at(start_s), at(end_s), officer)


def test_a_resumed_interruption_with_a_voice_note_is_explained_by_voice():
    events = log(
        (0, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "DCIM/a.MP4"),
        (600, m.EVENT_INTERRUPTED, m.REASON_BATTERY),
        (720, m.EVENT_RESUMED),
        (720, m.EVENT_VOICE_NOTE, m.REASON_NONE, "AUDIO/n.WAV"),
        (721, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "DCIM/b.MP4"),
        (1200, m.EVENT_RECORDING_STOPPED),
    )
    clips = [
        clip("DCIM/a.MP4", 0, 600),
        clip("AUDIO/n.WAV", 720, 735),
        clip("DCIM/b.MP4", 721, 1200),
    ]
    timeline = build_timeline(DEVICE, events, clips)
    assert timeline.interruptions == (
        Interruption(
            key="ZFY00001:event:1",
            device=DEVICE,
            officer_number="310115",
            start_utc=at(600),
            end_utc=at(720),
            reason=REASONS[m.REASON_BATTERY],
            found=Found.EVENT_LOG,
            status=Status.EXPLAINED_BY_VOICE,
            voice_note_path="AUDIO/n.WAV",
            event_index=1,
        ),
    )
    assert timeline.sessions == (
        RecordingSession(
            device=DEVICE,
            officer_number="310115",
            start_utc=at(0),
            end_utc=at(1200),
            segment_paths=("DCIM/a.MP4", "DCIM/b.MP4"),
            is_logged=True,
            is_stopped=True,
        ),
    )
    assert timeline.unlinked_voice_notes == ()
    assert timeline.unexplained() == ()


def test_a_gap_between_segments_with_no_event_is_an_unexplained_interruption():
    # Power lost at 300 s: nothing logged; the recorder came back and started again at 420 s.
    events = log(
        (0, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "DCIM/a.MP4"),
        (420, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "DCIM/b.MP4"),
        (900, m.EVENT_RECORDING_STOPPED),
    )
    clips = [clip("DCIM/a.MP4", 0, 300), clip("DCIM/b.MP4", 420, 900)]
    timeline = build_timeline(DEVICE, events, clips, gap_tolerance_s=2)
    assert timeline.interruptions == (
        Interruption(
            key=f"ZFY00001:gap:{T0_S + 300}",
            device=DEVICE,
            officer_number="310115",
            start_utc=at(300),
            end_utc=at(420),
            reason=REASONS[m.REASON_NONE],
            found=Found.GAP,
            status=Status.UNEXPLAINED,
        ),
    )
    assert len(timeline.sessions) == 1


def test_segments_that_touch_within_the_tolerance_are_no_gap():
    events = log(
        (0, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "DCIM/a.MP4"),
        (1802, m.EVENT_RECORDING_STOPPED),
    )
    clips = [clip("DCIM/a.MP4", 0, 600), clip("DCIM/b.MP4", 602, 1200), clip("c", 1201, 1802)]
    assert build_timeline(DEVICE, events, clips, gap_tolerance_s=2).interruptions == ()
    stricter = build_timeline(DEVICE, events, clips, gap_tolerance_s=1.5)
    assert [(i.start_utc, i.end_utc) for i in stricter.interruptions] == [(at(600), at(602))]


def test_the_time_between_two_sessions_the_officer_stopped_is_no_gap():
    events = log(
        (0, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "a"),
        (300, m.EVENT_RECORDING_STOPPED),
        (5000, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "b"),
        (5300, m.EVENT_RECORDING_STOPPED),
    )
    timeline = build_timeline(DEVICE, events, [clip("a", 0, 300), clip("b", 5000, 5300)])
    assert timeline.interruptions == ()
    assert [s.segment_paths for s in timeline.sessions] == [("a",), ("b",)]


def test_an_interruption_that_never_resumed_has_no_end_and_stays_unexplained():
    events = log(
        (0, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "a"),
        (400, m.EVENT_INTERRUPTED, m.REASON_STORAGE),
    )
    timeline = build_timeline(DEVICE, events, [clip("a", 0, 400, "310116")])
    (only,) = timeline.interruptions
    assert (only.end_utc, only.did_resume, only.duration_s) == (None, False, None)
    assert (only.officer_number, only.reason.code, only.status) == (
        "310116",
        m.REASON_STORAGE,
        Status.UNEXPLAINED,
    )
    assert only.describe() == (
        "2026-11-23 08:06:40 UTC storage full (存储空间已满), did not resume, "
        "found by event_log, unexplained"
    )


def test_a_stop_while_interrupted_leaves_it_unresumed_and_a_new_start_ends_it():
    events = log(
        (0, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "a"),
        (100, m.EVENT_INTERRUPTED, m.REASON_WEATHER),
        (200, m.EVENT_RECORDING_STOPPED),
        (1000, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "b"),
        (1100, m.EVENT_INTERRUPTED, m.REASON_OBSTRUCTION),
        (1160, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "c"),
        (1300, m.EVENT_RECORDING_STOPPED),
    )
    clips = [clip("a", 0, 100), clip("b", 1000, 1100), clip("c", 1160, 1300)]
    timeline = build_timeline(DEVICE, events, clips)
    assert [(i.key, i.end_utc) for i in timeline.interruptions] == [
        ("ZFY00001:event:1", None),
        ("ZFY00001:event:4", at(1160)),
    ]


def test_a_voice_note_links_to_the_interruption_before_it_not_to_a_later_one():
    events = log(
        (0, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "a"),
        (100, m.EVENT_INTERRUPTED, m.REASON_FAULT),
        (150, m.EVENT_RESUMED),
        (150, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "b"),
        (300, m.EVENT_INTERRUPTED, m.REASON_PLACE_CHANGE),
        (400, m.EVENT_RESUMED),
        (401, m.EVENT_VOICE_NOTE, m.REASON_NONE, "n2"),
        (402, m.EVENT_VOICE_NOTE, m.REASON_NONE, "n3"),  # a second note for the same one
        (402, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "c"),
        (500, m.EVENT_RECORDING_STOPPED),
    )
    clips = [
        clip("a", 0, 100),
        clip("b", 150, 300),
        clip("n2", 401, 410),
        clip("n3", 402, 412),
        clip("c", 402, 500),
    ]
    timeline = build_timeline(DEVICE, events, clips)
    assert [(i.reason.code, i.voice_note_path, i.status) for i in timeline.interruptions] == [
        (m.REASON_FAULT, None, Status.UNEXPLAINED),
        (m.REASON_PLACE_CHANGE, "n2", Status.EXPLAINED_BY_VOICE),
    ]
    assert timeline.unlinked_voice_notes == ("n3",)
    assert timeline.sessions[0].segment_paths == ("a", "b", "c")  # notes are not segments


def test_a_voice_note_whose_clip_did_not_come_off_does_not_explain():
    events = log(
        (0, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "a"),
        (100, m.EVENT_INTERRUPTED, m.REASON_FAULT),
        (150, m.EVENT_RESUMED),
        (150, m.EVENT_VOICE_NOTE, m.REASON_NONE, "AUDIO/lost.WAV"),
    )
    (only,) = build_timeline(DEVICE, events, [clip("a", 0, 100)]).interruptions
    assert (only.voice_note_path, only.status) == ("AUDIO/lost.WAV", Status.UNEXPLAINED)


def test_an_explanation_given_at_the_dock_sets_the_status_and_the_approver():
    events = log(
        (0, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "a"),
        (100, m.EVENT_INTERRUPTED, m.REASON_FAULT),
        (1000, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "b"),
        (1100, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "c"),
    )
    clips = [clip("a", 0, 100), clip("b", 1000, 1050), clip("c", 1100, 1200)]
    gap_key = f"ZFY00001:gap:{T0_S + 1050}"
    explanations = [
        Explanation("ZFY00001:event:1", Status.EXPLAINED_IN_WRITING, approver="unit head 0001"),
        Explanation(gap_key, Status.EXPLAINED_BY_VOICE, note="ab" * 32),
    ]
    timeline = build_timeline(DEVICE, events, clips, explanations=explanations)
    assert [(i.key, i.status, i.approver) for i in timeline.interruptions] == [
        ("ZFY00001:event:1", Status.EXPLAINED_IN_WRITING, "unit head 0001"),
        (gap_key, Status.EXPLAINED_BY_VOICE, None),
    ]


def test_a_gap_covered_by_a_logged_interruption_is_not_counted_twice():
    # The sim's pattern: interrupted at the clip's end, resumed later, next clip 20 s on.
    events = log(
        (0, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "a"),
        (300, m.EVENT_INTERRUPTED, m.REASON_OTHER),
        (500, m.EVENT_RESUMED),
        (520, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "b"),
        (900, m.EVENT_RECORDING_STOPPED),
    )
    timeline = build_timeline(DEVICE, events, [clip("a", 0, 300), clip("b", 520, 900)])
    assert [i.found for i in timeline.interruptions] == [Found.EVENT_LOG]


def test_the_officer_is_whoever_carried_the_recorder_at_the_interruption():
    events = log(
        (0, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "a"),
        (100, m.EVENT_RECORDING_STOPPED),
        (200, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "b"),
        (300, m.EVENT_INTERRUPTED, m.REASON_BATTERY),
    )
    clips = [clip("a", 0, 100, "A"), clip("b", 200, 300, "B")]
    (only,) = build_timeline(DEVICE, events, clips).interruptions
    assert only.officer_number == "B"


def test_clips_with_no_event_form_unlogged_sessions_and_an_empty_log_finds_nothing():
    clips = [clip("a", 0, 100), clip("b", 101, 200), clip("c", 5000, 5100)]
    timeline = build_timeline(DEVICE, [], clips)
    assert [(s.segment_paths, s.is_logged) for s in timeline.sessions] == [
        (("a", "b"), False),
        (("c",), False),
    ]
    assert timeline.interruptions == ()


def test_events_are_read_in_log_order_even_when_the_clock_went_back():
    # The recorder's clock was set back 60 s between the interruption and its resumption.
    events = [
        RecorderEvent(0, T0_S, m.EVENT_RECORDING_STARTED, m.REASON_NONE, "a"),
        RecorderEvent(1, T0_S + 300, m.EVENT_INTERRUPTED, m.REASON_FAULT, ""),
        RecorderEvent(2, T0_S + 280, m.EVENT_RESUMED, m.REASON_NONE, ""),
    ]
    (only,) = build_timeline(DEVICE, reversed(events), [clip("a", 0, 300)]).interruptions
    assert (only.start_utc, only.end_utc) == (at(300), at(280))


def test_every_reason_has_english_and_chinese_words_and_unknown_codes_still_read():
    assert {code for code in REASONS} == set(m.REASON_NAMES)
    assert all(r.en and r.zh and r.en != r.zh for r in REASONS.values())
    assert (
        reason_for(m.REASON_OBSTRUCTION).words() == "obstruction by people present (现场人员阻碍)"
    )
    assert reason_for(42).words() == "reason 42 (原因 42)"

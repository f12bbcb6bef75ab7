"""`make run`'s simulated shifts hold every interruption the dock must find, over ReadEvents.

Each bay's recorder runs the real firmware on a real pty; the dock's client reads its log
the way a docking does, and the timeline built from it must show every objective reason,
voice-noted and unnoted interruptions, and a power loss found only by its gap.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dock.interruptions.timeline import ClipSpan, Found, Status, build_timeline
from dock.simulation import shift_clips
from firmware_bridge import messages
from firmware_bridge.client import RecorderClient
from firmware_bridge.sim import SimRecorder, make_storage

NOW_UTC_S = int(datetime(2026, 12, 1, 23, 0, tzinfo=UTC).timestamp())
OBJECTIVE_REASONS = set(range(messages.REASON_FAULT, messages.REASON_OTHER + 1))


def test_four_simulated_shifts_served_through_read_events_show_every_kind_of_interruption(
    tmp_path,
):
    reasons, statuses, found_by = set(), [], []
    for bay in range(1, 5):
        serial = f"SIM0000{bay}"
        clips, events = shift_clips(bay, NOW_UTC_S)
        storage = make_storage("dir", tmp_path / serial, serial, clips)
        recorder = SimRecorder(storage, serial=serial, clips=clips, events=events)
        try:
            with RecorderClient.open(recorder.start()) as client:
                client.hello()
                batch = client.read_events(0, page_max_count=3)  # several pages
        finally:
            recorder.stop()
        assert [e.index for e in batch.events] == list(range(len(events)))
        assert batch.next_cursor == batch.total == len(events)
        spans = [
            ClipSpan(c.path, datetime.fromtimestamp(c.start_utc_s, UTC),
                     datetime.fromtimestamp(c.end_utc_s, UTC), "000001")
            for c in clips
        ]  # fmt: skip
        timeline = build_timeline(serial, batch.events, spans)
        for interruption in timeline.interruptions:
            found_by.append(interruption.found)
            statuses.append(interruption.status)
            if interruption.found is Found.EVENT_LOG:
                reasons.add(interruption.reason.code)
    assert reasons == OBJECTIVE_REASONS
    assert found_by.count(Found.GAP) == 4  # one power loss a shift
    assert statuses.count(Status.EXPLAINED_BY_VOICE) == 6
    assert statuses.count(Status.UNEXPLAINED) == 2 + 4  # two unnoted, and every gap

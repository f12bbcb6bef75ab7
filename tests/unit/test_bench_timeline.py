"""The interruption benchmark's synthetic data is what its figures claim to measure."""

from __future__ import annotations

from bench.timeline import synthetic_shift
from dock.interruptions.timeline import Found, build_timeline
from firmware_bridge import messages as m


def test_the_synthetic_shift_has_the_asked_sizes_every_reason_and_gaps():
    events, spans = synthetic_shift(events=2000, clips=300)
    assert (len(events), len(spans)) == (2000, 300)
    timeline = build_timeline("ZFY00001", events, spans)
    found = {i.found for i in timeline.interruptions}
    reasons = {i.reason.code for i in timeline.interruptions if i.found is Found.EVENT_LOG}
    assert found == {Found.EVENT_LOG, Found.GAP}
    assert reasons == set(range(m.REASON_FAULT, m.REASON_OTHER + 1))

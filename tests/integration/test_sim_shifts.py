"""`make run`'s simulated recorders: shifts dated before now, a few clips late, no leftovers."""

from __future__ import annotations

from datetime import UTC, datetime

from dock.clock import SystemClock
from dock.db.database import open_database
from dock.events import EventBus
from dock.simulation import LATE_BAY, SimulatedBays, shift_clips
from hw.volumes import SimulatedVolumes

HANDOVER_LIMIT_S = 24 * 3600
NOW_UTC_S = int(datetime(2026, 12, 1, 23, 0, tzinfo=UTC).timestamp())


def test_simulated_shifts_end_before_now_and_only_a_few_clips_are_late():
    late_by_bay = {}
    for bay in range(1, 5):
        clips, events = shift_clips(bay, NOW_UTC_S)
        assert all(c.start_utc_s < c.end_utc_s < NOW_UTC_S for c in clips)
        assert [e["index"] for e in events] == list(range(len(events)))
        assert {e["clip_path"] for e in events if e["clip_path"]} <= {c.path for c in clips}
        late_by_bay[bay] = [c for c in clips if NOW_UTC_S - c.end_utc_s > HANDOVER_LIMIT_S]
        on_time = [c for c in clips if NOW_UTC_S - c.end_utc_s <= HANDOVER_LIMIT_S]
        assert on_time, f"bay {bay} has no clip within the hand-over limit"
    assert 0 < len(late_by_bay[LATE_BAY]) < len(shift_clips(LATE_BAY, NOW_UTC_S)[0])
    assert all(not late for bay, late in late_by_bay.items() if bay != LATE_BAY)


def test_a_simulated_dock_removes_the_cards_a_killed_run_left(tmp_path):
    data_dir = tmp_path / "data"
    leftover = data_dir / "sim" / "cards-killedrun" / "SIM00001" / "DCIM"
    leftover.mkdir(parents=True)
    (leftover / "old.MP4").write_bytes(b"from a run that was SIGKILLed")
    db = open_database(data_dir, EventBus())
    try:
        bays = SimulatedBays(1, data_dir, db, SystemClock(), SimulatedVolumes())
        try:
            assert not (data_dir / "sim" / "cards-killedrun").exists()
            assert [p.name for p in (data_dir / "sim").iterdir()] == [bays.cards_dir.name]
        finally:
            bays.stop()
        assert list((data_dir / "sim").iterdir()) == []
    finally:
        db.close()

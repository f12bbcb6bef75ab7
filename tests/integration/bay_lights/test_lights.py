"""The lights follow a real SQLite journal: whole pattern and pin histories, and a restart
that resumes from the cursor without re-reading or missing a row."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from dock import journal
from dock.bays.machine import BayMachine
from dock.bays.states import Trigger
from dock.clock import FixedClock
from dock.db import open_database
from dock.events import (
    EventBus,
    InterruptionExplained,
    OffloadProgress,
    OffloadStarted,
    VoiceNoteRefused,
    VoiceNotesNeeded,
    VoiceNoteStarted,
)
from dock.lights import CURSOR_FILE_NAME, LightsFollower
from hw import gpio
from hw.gpio import FakeLights, GpioLights, LightPins
from tests.integration.bay_lights.pin_history import Ticks, levels

PINS = {
    1: LightPins(red=5, green=6),
    2: LightPins(red=13, green=19),
    gpio.DOCK_LIGHT: LightPins(red=20, green=21),
}
F, T = False, True


class Both:
    """Shows on the mock pins and remembers the pattern names."""

    def __init__(self, *lights) -> None:
        self.all = lights

    def show(self, light, pattern) -> None:
        for each in self.all:
            each.show(light, pattern)

    def close(self) -> None:
        pass


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 11, 23, 18, 0, tzinfo=UTC))


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path, EventBus())
    yield database
    database.close()


def note(db, clock, happened) -> None:
    with db.transaction() as session:
        journal.append(session, happened, actor="test", at=clock.now_utc())


def progress(bay: int, done: int, total: int = 1000) -> OffloadProgress:
    return OffloadProgress(
        bay=bay, device="D1", done_clips=0, total_clips=4, done_bytes=done, total_bytes=total
    )


def test_bay_states_from_the_journal_drive_the_whole_expected_history(tmp_path, db, clock, pins):
    fake = FakeLights()
    follower = LightsFollower(
        db,
        Both(fake, GpioLights(PINS, pin_factory=pins, monotonic_s=Ticks())),
        tmp_path,
        bays=(1, 2),
    )
    bay1, bay2 = BayMachine(1, db, clock), BayMachine(2, db, clock)
    follower.start_up()
    keys = ("D1:event:3",)
    steps = [
        lambda: bay1.move(Trigger.DOCKED, device="D1"),
        lambda: bay1.move(Trigger.NEEDS_OFFLOAD),
        lambda: note(db, clock, OffloadStarted(bay=1, device="D1", clip_count=4, total_bytes=1000)),
        lambda: note(db, clock, progress(1, 600)),
        lambda: note(db, clock, progress(1, 1000)),
        lambda: bay1.move(Trigger.OFFLOAD_DONE),
        lambda: bay1.move(Trigger.CHECK_PASSED),
        lambda: note(
            db, clock, VoiceNotesNeeded(bay=1, device="D1", officer_number="1", keys=keys)
        ),
        lambda: note(db, clock, VoiceNoteStarted(bay=1, device="D1", key=keys[0])),
        lambda: note(db, clock, VoiceNoteRefused(bay=1, device="D1", key=keys[0], reason="silent")),
        lambda: note(db, clock, VoiceNoteStarted(bay=1, device="D1", key=keys[0])),
        lambda: note(
            db, clock, InterruptionExplained(bay=1, key=keys[0], status="explained_by_voice")
        ),
        lambda: note(db, clock, VoiceNotesNeeded(bay=1, device="D1", officer_number="1", keys=())),
        lambda: bay2.move(Trigger.DOCKED, device="D2"),
        lambda: bay2.move(Trigger.NOT_ACCEPTED, reason="unknown recorder"),
        lambda: bay2.move(Trigger.LINK_LOST),
        lambda: bay1.move(Trigger.REFLASH_STARTED),
        lambda: bay1.move(Trigger.UNDOCKED),
    ]
    for step in steps:
        step()
        assert follower.poll() == 1
    assert fake.history == [
        (1, "off"),
        (2, "off"),
        ("dock", "health_ok"),
        (1, "working"),
        (1, "offloading_1_of_4"),
        (1, "offloading_3_of_4"),
        (1, "offloading_4_of_4"),
        (1, "working"),
        (1, "ready"),
        (1, "note_needed"),
        (1, "note_recording"),
        (1, "note_needed"),
        (1, "note_recording"),
        (1, "note_needed"),
        (1, "ready"),
        (2, "working"),
        (2, "attention"),
        (2, "fault"),
        (1, "reflashing"),
        (1, "off"),
    ]
    # Time stands still, so each pattern shows its first color: green for working, offloading
    # and ready, amber for the notes, red for reflashing, then off.
    assert (levels(pins, 5), levels(pins, 6)) == ([F, T, F, T, F], [F, T, F])
    assert (levels(pins, 13), levels(pins, 19)) == ([F, T], [F, T, F])  # green, amber, red
    assert (levels(pins, 20), levels(pins, 21)) == ([F], [F, T])


def test_a_restart_resumes_from_the_cursor_without_rereading_or_missing(tmp_path, db, clock):
    bay1, bay2 = BayMachine(1, db, clock), BayMachine(2, db, clock)
    first = LightsFollower(db, FakeLights(), tmp_path, bays=(1, 2))
    first.start_up()
    bay1.move(Trigger.DOCKED, device="D1")
    bay1.move(Trigger.IDENTIFIED)
    bay1.move(Trigger.CHECK_PASSED)
    assert first.poll() == 3
    # The dock stops; while it is down two more rows are committed.
    note(db, clock, VoiceNotesNeeded(bay=1, device="D1", officer_number="1", keys=("k",)))
    bay2.move(Trigger.DOCKED, device="D2")

    lights = FakeLights()
    again = LightsFollower(db, lights, tmp_path, bays=(1, 2))
    again.start_up()
    assert again.rows_read == 2
    assert again.cursor == 5
    assert lights.history == [(1, "note_needed"), (2, "working"), ("dock", "health_ok")]
    bay2.move(Trigger.IDENTIFIED)
    bay2.move(Trigger.CHECK_FAILED, reason="battery 12%")
    assert again.poll() == 2
    assert again.poll() == 0
    assert lights.history[3:] == [(2, "attention")]

    # Without its file the follower rebuilds from the first row and ends in the same place.
    (tmp_path / CURSOR_FILE_NAME).unlink()
    rebuilt_lights = FakeLights()
    rebuilt = LightsFollower(db, rebuilt_lights, tmp_path, bays=(1, 2))
    rebuilt.start_up()
    assert (rebuilt.rows_read, rebuilt.cursor, rebuilt.bays) == (7, 7, again.bays)
    assert rebuilt_lights.history == [(1, "note_needed"), (2, "attention"), ("dock", "health_ok")]


def test_the_bus_only_wakes_the_follower_whose_own_thread_reads_the_journal(tmp_path, db, clock):
    lights = FakeLights()
    follower = LightsFollower(db, lights, tmp_path, bays=(1,))
    assert db.bus is not None
    db.bus.subscribe(follower.wake)
    stop = threading.Event()
    thread = threading.Thread(target=follower.run, args=(stop, 30.0), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while ("dock", "health_ok") not in lights.history and time.monotonic() < deadline:
            time.sleep(0.01)
        reader_threads: list[str] = []
        original_show = lights.show

        def show(light, pattern) -> None:
            reader_threads.append(threading.current_thread().name)
            original_show(light, pattern)

        lights.show = show  # type: ignore[method-assign]
        BayMachine(1, db, clock).move(Trigger.DOCKED, device="D1")
        while (1, "working") not in lights.history and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (1, "working") in lights.history  # woken at once: the poll period is 30 s
        assert reader_threads == [thread.name]  # not the thread that committed the move
    finally:
        stop.set()
        follower.wake()
        thread.join(timeout=5)
    assert not thread.is_alive()

"""A voice note at the bay: mock button presses, the fake microphone's real WAV, the note
stored by its hash, journaled, and the bay's light following each step."""

from __future__ import annotations

import hashlib
import shutil
import stat
from datetime import UTC, datetime

import pytest

from dock import journal
from dock.bays.machine import BayMachine
from dock.bays.states import Trigger
from dock.clock import FixedClock
from dock.db import open_database
from dock.interruptions.note_prompt import NotePrompt
from dock.journal_reader import read_after
from dock.lights import LightsFollower
from hw.gpio import FakeLights, GpioButtons, Press
from hw.microphone import FakeStatementRecorder, Statement
from tests.integration.bay_lights.pin_history import Ticks

KEYS = ("D1:event:1", "D1:gap:1795425300")
BUTTON_PIN = 20


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "data")
    yield database
    database.close()


def test_a_note_through_the_bay_button_is_refused_when_silent_then_kept_and_a_long_press_skips(
    tmp_path, db, pins
):
    clock = FixedClock(datetime(2026, 11, 23, 18, 0, tzinfo=UTC))
    bay = BayMachine(1, db, clock)
    for trigger in (Trigger.DOCKED, Trigger.IDENTIFIED, Trigger.CHECK_PASSED):
        bay.move(trigger, device="D1")
    store = tmp_path / "store"
    store.mkdir()

    def keep(statement: Statement) -> str:
        sha256 = hashlib.sha256(statement.path.read_bytes()).hexdigest()
        kept = store / sha256
        shutil.copyfile(statement.path, kept)
        kept.chmod(stat.S_IRUSR | stat.S_IRGRP)
        return sha256

    def record(happened) -> None:
        with db.transaction() as session:
            journal.append(session, happened, actor="bay-button", at=clock.now_utc())

    ticks = Ticks()
    recorder = FakeStatementRecorder("设备故障，录像中断", silent_s=3)
    workdir = tmp_path / "notes"
    workdir.mkdir()
    prompt = NotePrompt(
        bay=1,
        device="D1",
        officer_number="310115",
        keys=KEYS,
        recorder=recorder,
        workdir=workdir,
        keep=keep,
        record=record,
        monotonic_s=ticks,
        max_s=30,
    )
    buttons = GpioButtons({1: BUTTON_PIN}, pin_factory=pins, monotonic_s=ticks)
    buttons.on_press(lambda _bay, kind: prompt.press(kind))
    lights = FakeLights()
    follower = LightsFollower(db, lights, tmp_path / "data", bays=(1,))
    follower.start_up()
    cursor = follower.cursor

    def push(held_s: float = 0.2) -> None:
        pins.pin(BUTTON_PIN).drive_low()
        ticks.now_s += held_s
        pins.pin(BUTTON_PIN).drive_high()
        ticks.now_s += 1
        follower.poll()

    prompt.begin()
    follower.poll()
    push()  # start: the microphone gives silence
    push()  # stop: refused
    recorder.silent_s = None
    push()  # start again: now speech
    push()  # stop: kept
    push(held_s=2.5)  # long press: skip the gap
    push()  # nothing left to ask: ignored

    rows = [t.event for t in read_after(db, cursor)]
    assert [(e.type, getattr(e, "key", None)) for e in rows] == [
        ("interruption.notes_needed", None),
        ("interruption.note_started", KEYS[0]),
        ("interruption.note_refused", KEYS[0]),
        ("interruption.note_started", KEYS[0]),
        ("interruption.explained", KEYS[0]),
        ("interruption.notes_needed", None),
        ("interruption.note_skipped", KEYS[1]),
        ("interruption.notes_needed", None),
    ]
    assert [e.keys for e in rows if e.type == "interruption.notes_needed"] == [KEYS, KEYS[1:], ()]
    assert all((e.bay, e.device) == (1, "D1") for e in rows)
    assert rows[2].reason.startswith("voice note has no speech")
    explained = rows[4]
    assert explained.status == "explained_by_voice"
    kept = store / explained.note_sha256
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == explained.note_sha256
    assert kept.stat().st_mode & stat.S_IWUSR == 0
    assert lights.history == [
        (1, "ready"),
        ("dock", "health_ok"),
        (1, "note_needed"),
        (1, "note_recording"),
        (1, "note_needed"),
        (1, "note_recording"),
        (1, "note_needed"),
        (1, "ready"),
    ]
    assert [name for name, _ in recorder.history] == ["start", "stop", "start", "stop"]


def test_a_note_that_reaches_the_maximum_ends_by_itself(tmp_path):
    events = []
    ticks = Ticks()
    prompt = NotePrompt(
        bay=2,
        device="D2",
        officer_number=None,
        keys=("D2:event:0",),
        recorder=FakeStatementRecorder("现场人员阻碍，无法继续录像"),
        workdir=tmp_path,
        keep=lambda statement: "f" * 64,
        record=events.append,
        monotonic_s=ticks,
        max_s=4,
    )
    prompt.press(Press.SHORT)
    ticks.now_s = 3.9
    prompt.tick()
    assert prompt.is_recording
    ticks.now_s = 4.0
    prompt.tick()
    assert not prompt.is_recording
    assert [e.type for e in events] == [
        "interruption.note_started",
        "interruption.explained",
        "interruption.notes_needed",
    ]

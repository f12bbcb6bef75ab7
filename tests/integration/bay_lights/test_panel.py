"""The service's bay panel with a real docking: the light asks for a note, the officer
presses the mock button and speaks (espeak-ng into a real WAV), the note is stored as
evidence and explains the interruption, and the light goes back to READY."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from hashlib import sha256

from dock import journal
from dock.bays.states import BayState
from dock.clock import SystemClock
from dock.db.models import InterruptionRow
from dock.panel import Panel, simulated_pins
from hw import gpio
from hw.gpio import FakeLights, GpioButtons, GpioLights
from hw.microphone import FakeStatementRecorder
from tests.integration.bay_lights.pin_history import Ticks

BUTTON_PIN = 17
WAIT_S = 30


def eventually(check, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def panel_for(dock, *, lights, buttons=None, make_recorder=None, store=None) -> Panel:
    """The service's panel over a test dock's settings, database and store."""
    return Panel(
        dock.settings,
        dock.db,
        clock=SystemClock(),
        lights=lights,
        buttons=buttons,
        make_recorder=make_recorder,
        store=store if store is not None else dock.store,
    )


def test_a_docked_recorder_owing_a_note_gets_it_through_the_bay_button(make_dock, pins):
    dock = make_dock()
    recorder = dock.recorder("ZFY70001", clip_count=12)  # its fourth interruption is unnoted
    lights, ticks = FakeLights(), Ticks()
    buttons = GpioButtons({1: BUTTON_PIN}, pin_factory=pins, monotonic_s=ticks)
    spoken = FakeStatementRecorder("恶劣天气，录像中断，现已恢复")
    panel = panel_for(dock, lights=lights, buttons=buttons, make_recorder=lambda: spoken)
    panel.start()
    try:
        dock.start()
        dock.plug(recorder, 1)
        _, result = dock.next_result()
        assert result.state is BayState.READY
        eventually(lambda: 1 in panel.prompts, "the bay asked for a note")
        eventually(lambda: lights.current.get(1) == "note_needed", "the light says note needed")
        [key] = panel.prompts[1].pending

        for _ in range(2):  # press: speak; press again: done
            pins.pin(BUTTON_PIN).drive_low()
            ticks.now_s += 0.2
            pins.pin(BUTTON_PIN).drive_high()
            ticks.now_s += 1

        eventually(lambda: 1 not in panel.prompts, "the prompt finished")
        eventually(lambda: lights.current.get(1) == "ready", "the light is back to ready")
        with dock.db.transaction() as session:
            row = session.get(InterruptionRow, key)
            assert row is not None
            assert (row.status, row.explained_via) == ("explained_by_voice", "dock")
            digest = row.note_sha256
            entries = journal.read_after(session, 0, limit=100_000)
        assert digest is not None
        stored = dock.store.path_of(digest)
        assert sha256(stored.read_bytes()).hexdigest() == digest
        assert stored.read_bytes()[:4] == b"RIFF"
        mine = [(e.type, e.data.get("key")) for e in entries if e.type.startswith("interruption.")]
        asked_from = mine.index(("interruption.notes_needed", None))
        assert mine[asked_from:] == [
            ("interruption.notes_needed", None),
            ("interruption.note_started", key),
            ("interruption.explained", key),
            ("interruption.notes_needed", None),
        ]
        assert [e.data["keys"] for e in entries if e.type == "interruption.notes_needed"] == [
            [key],
            [],
        ]
        assert lights.current.get(gpio.DOCK_LIGHT) == "health_ok"
    finally:
        panel.stop()


def test_the_simulated_panel_opens_every_pin_on_a_mock_header(pins, caplog):
    light_pins, button_pins = simulated_pins(12)  # bays past the eighth get no light
    assert sorted(b for b in button_pins) == list(range(1, 9))
    used = [p for spec in light_pins.values() for p in (spec.red, spec.green)]
    used += list(button_pins.values())
    assert len(set(used)) == len(used) == 2 + 8 * 3
    ticks = Ticks()
    lights = GpioLights(light_pins, pin_factory=pins, monotonic_s=ticks)
    buttons = GpioButtons(button_pins, pin_factory=pins, monotonic_s=ticks)
    try:
        assert [r.message for r in caplog.records if r.levelname == "WARNING"] == []
        lights.show(3, gpio.READY)
        lights.render(0.0)
        assert (pins.pin(6).state, pins.pin(7).state) == (False, True)  # bay 3: green only
    finally:
        buttons.close()
        lights.close()


class StuckLights:
    """A light whose pins hang: every show() waits until the test lets go."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def show(self, light, pattern) -> None:
        self.calls += 1
        self.release.wait()

    def close(self) -> None:
        self.release.set()


def test_a_stuck_light_and_a_slow_microphone_do_not_hold_a_docking(make_dock):
    dock = make_dock()
    recorder = dock.recorder("ZFY70002", clip_count=12)
    lights = StuckLights()
    panel = panel_for(dock, lights=lights, make_recorder=lambda: FakeStatementRecorder("设备故障"))
    panel.start()
    try:
        panel._lock.acquire()  # as while a note is being measured and stored
        try:
            dock.start()
            dock.plug(recorder, 1)
            _, result = dock.next_result()
            assert result.state is BayState.READY
            assert lights.calls == 1  # the follower is stuck on its first pin
            assert panel.prompts == {}  # the ask waits in the panel's queue, not in the bay
        finally:
            panel._lock.release()
        eventually(lambda: 1 in panel.prompts, "the prompt starts once the panel is free")
    finally:
        lights.release.set()
        panel.stop()


def test_after_a_dock_restart_the_bay_asks_again_for_the_note_still_owed(make_dock, pins):
    dock = make_dock()
    recorder = dock.recorder("ZFY70003", clip_count=12)
    dock.start()
    dock.plug(recorder, 1)
    assert dock.next_result()[1].state is BayState.READY
    dock.stop_event.set()  # the service stops with the recorder left in its bay
    dock.thread.join(30)
    panel = panel_for(
        dock, lights=FakeLights(), make_recorder=lambda: FakeStatementRecorder("设备故障")
    )
    panel.start()  # a new run: nothing in memory of the first
    try:
        dock.start()
        dock.hotplug.attach("1-1.1", recorder.port)  # the start-up scan finds it still there
        dock.hotplug.scan_done()
        assert dock.next_result()[1].state is BayState.READY
        eventually(lambda: 1 in panel.prompts, "the bay asks again")
        assert len(panel.prompts[1].pending) == 1
        with dock.db.transaction() as session:
            assert session.query(InterruptionRow).filter_by(status="unexplained").count() == 1
    finally:
        panel.stop()


def test_the_terminal_view_draws_the_bays_light_and_the_notes_owed(make_dock):
    from rich.console import Console

    from dock.cli.bays_watch import view, watch

    dock = make_dock(bays=2)
    recorder = dock.recorder("ZFY70004", clip_count=12)
    lights = FakeLights()
    panel = panel_for(dock, lights=lights)
    panel.start()
    try:
        dock.start()
        dock.plug(recorder, 1)
        assert dock.next_result()[1].state is BayState.READY
        eventually(lambda: lights.current.get(1) == "note_needed", "the light says note needed")
    finally:
        panel.stop()  # the lights' saved projection is what the view draws
    data_dir = dock.settings.dock.data_dir
    with closing(sqlite3.connect(dock.settings.database_path)) as raw:
        drawn = []
        for elapsed_s in (0.1, 0.35):  # note_needed blinks amber 0.25 s on, 0.25 s off
            console = Console(record=True, width=200, color_system="truecolor")
            console.print(view(raw, data_dir, 2, elapsed_s))
            drawn.append(console.export_text(styles=True))
        text = Console(record=True, width=200)
        text.print(view(raw, data_dir, 2, 0.1))
    lines = text.export_text().splitlines()
    [bay1] = [line for line in lines if "ZFY70004" in line]
    assert "note_needed" in bay1 and "ready" in bay1
    assert "1 note(s) needed: press the button and speak" in bay1
    [bay2] = [line for line in lines if line.startswith("│ 2 ")]
    assert "off" in bay2 and "empty" in bay2
    assert drawn[0] != drawn[1]  # the blink: amber, then dark
    stop = threading.Event()
    stop.set()
    watch(dock.settings.database_path, data_dir, 2, stop)  # draws once and returns


def test_a_note_the_full_dock_disk_cannot_keep_is_refused_and_asked_for_again(make_dock, pins):
    from dock.offload.store import EvidenceStore

    dock = make_dock()
    recorder = dock.recorder("ZFY70005", clip_count=12)
    lights, ticks = FakeLights(), Ticks()
    buttons = GpioButtons({1: BUTTON_PIN}, pin_factory=pins, monotonic_s=ticks)
    full = EvidenceStore(dock.settings.dock.data_dir / "store", reserve_bytes=2**62)
    panel = panel_for(
        dock,
        lights=lights,
        buttons=buttons,
        make_recorder=lambda: FakeStatementRecorder("存储空间已满"),
        store=full,
    )
    panel.start()
    try:
        dock.start()
        dock.plug(recorder, 1)
        assert dock.next_result()[1].state is BayState.READY
        eventually(lambda: 1 in panel.prompts, "the bay asked for a note")
        [key] = panel.prompts[1].pending
        for _ in range(2):
            pins.pin(BUTTON_PIN).drive_low()
            ticks.now_s += 0.2
            pins.pin(BUTTON_PIN).drive_high()
            ticks.now_s += 1
        eventually(lambda: lights.current.get(1) == "note_needed", "the light asks again")
        assert panel.prompts[1].pending == [key]
        with dock.db.transaction() as session:
            assert session.get(InterruptionRow, key).status == "unexplained"
            entries = journal.read_after(session, 0, limit=100_000)
        [refused] = [e for e in entries if e.type == "interruption.note_refused"]
        assert refused.data["key"] == key
        assert refused.data["reason"].startswith("dock disk has ")
        assert [e.type for e in entries][-2:] == [
            "interruption.note_started",
            "interruption.note_refused",
        ]
    finally:
        panel.stop()


def test_the_note_thread_of_an_idle_dock_sleeps_until_the_bus_has_news(make_dock):
    dock = make_dock()
    panel = panel_for(dock, lights=FakeLights())
    panel.start()
    try:
        time.sleep(1.0)  # five ticks of the old 0.2 s loop
        assert panel.note_wakeups == 0
        dock.start()
        dock.plug(dock.recorder("ZFY70002", clip_count=2), 1)  # bay moves reach it by the bus
        eventually(lambda: panel.note_wakeups > 0, "the bus woke the note thread")
    finally:
        panel.stop()
        dock.stop()

"""Technician mode at the dock: a long press on a bay's mock button (or the technician
button) in the running service, then a technician's sign-in through `dock technician enter`
over the control socket; the bay then takes `dock reflash` without a second sign-in. Every
step is a journal row and the bay's light follows; the credential's time is the panel's
clock, moved by hand."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dock import journal
from dock.bays.states import BayState
from dock.cli import app
from dock.clock import FixedClock, SystemClock
from dock.control import ControlServer
from dock.panel import Panel
from dock.technician import CREDENTIAL_WAIT_S
from firmware_bridge.image import DEV_KEY_PATH, build_image, load_private_key
from hw import gpio
from hw.gpio import FakeLights, GpioButtons
from hw.microphone import FakeStatementRecorder
from tests.integration.bay_lights.pin_history import Ticks
from tests.integration.bay_lights.test_panel import eventually
from tests.integration.people_setup import PASSWORD, add_team

STAFF = {"admin": ["administrator"], "tom": ["technician"], "olga": ["officer"]}
BUTTON_PINS = {1: 17, 2: 27, gpio.TECHNICIAN_BUTTON: 22}
LONG_PRESS_S = 2.0
runner = CliRunner()


class PanelClock:
    """The wall clock for journal times, a hand-moved monotonic one for presses and waits."""

    def __init__(self, ticks: Ticks) -> None:
        self.ticks = ticks

    def now_utc(self) -> datetime:
        return SystemClock().now_utc()

    def monotonic_s(self) -> float:
        return self.ticks()


class Bench:
    """A running test dock with its panel on mock pins, its control socket and a CLI."""

    def __init__(self, dock, pins, tmp_path: Path) -> None:
        self.dock, self.pins = dock, pins
        with dock.db.transaction() as session:
            add_team(session, STAFF, FixedClock(datetime(2026, 12, 2, tzinfo=UTC)))
        dock.start()
        assert dock.service is not None
        self.ticks = Ticks()
        self.lights = FakeLights()
        buttons = GpioButtons(
            BUTTON_PINS, pin_factory=pins, monotonic_s=self.ticks, long_press_s=LONG_PRESS_S
        )
        self.panel = Panel(
            dock.settings,
            dock.db,
            clock=PanelClock(self.ticks),
            lights=self.lights,
            buttons=buttons,
            make_recorder=lambda: FakeStatementRecorder("设备故障，录像中断"),
            store=dock.store,
            technicians=dock.service.technicians,
        )
        self.panel.start()
        self.server = ControlServer(dock.settings.dock.data_dir)
        self.server.start(dock.service)
        self.config = tmp_path / "cli.toml"
        data_dir = dock.settings.dock.data_dir
        self.config.write_text(f'[dock]\ndata_dir = "{data_dir}"\n', encoding="utf-8")
        self.password = tmp_path / "password"
        self.password.write_text(PASSWORD + "\n", encoding="utf-8")

    def close(self) -> None:
        self.server.stop()
        self.panel.stop()

    def docked(self, serial: str, bay: int) -> None:
        self.dock.plug(self.dock.recorder(serial), bay)
        assert self.dock.next_result()[1].state is BayState.READY
        self.light_is(bay, "ready")

    def press(self, button, held_s: float) -> None:
        pin = self.pins.pin(BUTTON_PINS[button])
        pin.drive_low()
        self.ticks.now_s += held_s
        pin.drive_high()
        self.ticks.now_s += 0.5

    def cli(self, *args: str, user: str | None = None):
        command = ["--config", str(self.config), *args]
        if user is not None:
            command += ["--user", user, "--password-file", str(self.password)]
        return runner.invoke(app, command)

    def rows(self, prefix: str = "technician.") -> list[journal.JournalEntry]:
        with self.dock.db.transaction() as session:
            found = journal.read_after(session, 0, 100_000)
        return [r for r in found if r.type.startswith(prefix)]

    def light_is(self, bay: int, name: str) -> None:
        eventually(lambda: self.lights.current.get(bay) == name, f"bay {bay}'s light is {name}")


@pytest.fixture
def bench(make_dock, pins, tmp_path):
    made = Bench(make_dock(bays=2), pins, tmp_path)
    yield made
    made.close()


def image_file(folder: Path, model: str = "ZFY-SIM") -> Path:
    signed = build_image(
        bytes(i % 251 for i in range(20_000)),
        model=model,
        version="1.1.0",
        min_version="0.1.0",
        key=load_private_key(DEV_KEY_PATH),
    )
    path = folder / f"firmware-{model}-1.1.0.img"
    path.write_bytes(signed.to_bytes())
    return path


def test_long_press_then_a_technicians_sign_in_lets_the_bay_take_a_reflash_alone(bench, tmp_path):
    bench.docked("ZFY90001", 1)
    bench.press(1, 0.2)  # a short press keeps its meaning: no note is asked, nothing happens
    bench.press(1, LONG_PRESS_S + 0.5)
    bench.light_is(1, "technician_awaited")

    entered = bench.cli("technician", "enter", "1", user="tom")
    assert entered.exit_code == 0, entered.output
    assert entered.stdout == "仓位 1：技术人员模式（tom）\n"
    bench.light_is(1, "technician_mode")

    flashed = bench.cli("reflash", "1", str(image_file(tmp_path)))  # no --user: the mode's
    assert flashed.exit_code == 0, flashed.output
    assert "ZFY90001 1.0.0 -> 1.1.0：已确认，当前运行 1.1.0" in flashed.stdout
    bench.light_is(1, "attention")  # checked again: 1.1.0 is not on this dock's allowed list

    steps = [(r.type, r.actor, r.bay) for r in bench.rows()]
    assert steps == [
        ("technician.mode_asked", "bay-button", 1),
        ("technician.mode_entered", "staff:tom", 1),
        ("technician.mode_left", "staff:tom", 1),
    ]
    entered_row, left_row = bench.rows()[1:]
    assert entered_row.data["username"] == "tom" and entered_row.device == "ZFY90001"
    assert left_row.data["reason"] == "reflash done"
    [started] = bench.rows("reflash.started")
    assert started.actor == "staff:tom"
    assert entered_row.id < started.id < left_row.id
    shown = [name for light, name in bench.lights.history if light == 1]
    firsts = [shown.index(n) for n in ("technician_awaited", "technician_mode", "attention")]
    assert firsts == sorted(firsts)


def test_a_reflash_that_fails_ends_the_mode_too_so_the_next_one_signs_in_again(bench, tmp_path):
    bench.docked("ZFY90001", 1)
    assert bench.cli("technician", "enter", "1", user="tom").exit_code == 0

    refused = bench.cli("reflash", "1", str(image_file(tmp_path, model="OTHER-CAM")))
    assert refused.exit_code != 0 and "OTHER-CAM" in refused.output

    left = bench.rows("technician.mode_left")
    assert [r.data["reason"] for r in left] == ["reflash failed"]
    again = bench.cli("reflash", "1", str(image_file(tmp_path)))
    assert again.exit_code != 0 and "不在技术人员模式" in again.output


def test_without_a_credential_in_time_every_bay_the_technician_button_asked_falls_back(bench):
    bench.docked("ZFY90002", 1)
    bench.docked("ZFY90003", 2)
    bench.press(gpio.TECHNICIAN_BUTTON, LONG_PRESS_S)
    bench.light_is(1, "technician_awaited")
    bench.light_is(2, "technician_awaited")
    bench.ticks.now_s += CREDENTIAL_WAIT_S - 1
    time.sleep(0.5)  # the panel's thread looks at its clock: one second is left
    assert [r.type for r in bench.rows()] == ["technician.mode_asked"] * 2
    bench.ticks.now_s += 1
    bench.light_is(1, "ready")
    bench.light_is(2, "ready")
    left = [r for r in bench.rows() if r.type == "technician.mode_left"]
    assert sorted(r.bay for r in left) == [1, 2]
    assert {r.data["reason"] for r in left} == {"no technician signed in within 120 s"}
    assert {r.actor for r in left} == {"dock"}

    refused = bench.cli("reflash", "1", "/nonexistent.img")  # no mode and no --user
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
    assert bench.rows("reflash.") == []


def test_technician_mode_ends_when_left_or_when_the_recorder_is_undocked(bench):
    bench.docked("ZFY90004", 1)
    assert bench.cli("technician", "enter", "1", user="tom").exit_code == 0  # the CLI alone
    bench.light_is(1, "technician_mode")
    left = bench.cli("technician", "leave", "1")
    assert (left.exit_code, left.stdout) == (0, "仓位 1：技术人员模式已结束\n")
    bench.light_is(1, "ready")
    again = bench.cli("technician", "leave", "1")
    assert again.exit_code == 1
    assert again.stderr == "error: 仓位 1 不在技术人员模式：无需退出\n"

    bench.press(1, LONG_PRESS_S)
    assert bench.cli("technician", "enter", "1", user="tom").exit_code == 0
    [recorder] = bench.dock.recorders
    bench.dock.unplug(recorder, 1)
    bench.light_is(1, "off")
    reasons = [r.data.get("reason") for r in bench.rows() if r.type == "technician.mode_left"]
    assert reasons == ["left on request", "recorder undocked"]
    assert [r.type for r in bench.rows()][-3:] == [
        "technician.mode_asked",
        "technician.mode_entered",
        "technician.mode_left",
    ]


def test_only_a_technician_may_enter_and_only_at_a_checked_bay(bench):
    officer = bench.cli("technician", "enter", "1", user="olga")
    assert officer.exit_code == 1
    assert "technician" in officer.stderr and len(officer.stderr.splitlines()) == 1
    empty = bench.cli("technician", "enter", "1", user="tom")
    assert empty.exit_code == 1
    assert "仓位 1 没有已检查的记录仪" in empty.stderr
    bench.press(1, LONG_PRESS_S)  # an empty bay: the long press asks for nothing
    assert bench.rows() == []


def test_a_mode_the_last_run_left_open_is_journaled_as_left_at_start(bench):
    bench.docked("ZFY90005", 1)
    assert bench.cli("technician", "enter", "1", user="tom").exit_code == 0
    dock = bench.dock
    dock.stop_event.set()  # the service stops with the bay in technician mode
    dock.thread.join(30)
    dock.start()
    row = eventually(
        lambda: [r for r in bench.rows() if r.type == "technician.mode_left"], "left at start"
    )
    assert [(r.bay, r.data["reason"], r.actor) for r in row] == [(1, "dock restarted", "dock")]


def test_a_long_press_skips_a_note_the_bay_asks_for_and_only_then_asks_for_a_technician(bench):
    recorder = bench.dock.recorder("ZFY90006", clip_count=12)  # one interruption unexplained
    bench.dock.plug(recorder, 1)
    assert bench.dock.next_result()[1].state is BayState.READY
    bench.light_is(1, "note_needed")
    eventually(lambda: 1 in bench.panel.prompts, "the bay asked for a note")
    bench.press(1, LONG_PRESS_S)  # with a note asked: skip it
    bench.light_is(1, "ready")
    assert [r.type for r in bench.rows("interruption.note_skipped")] == [
        "interruption.note_skipped"
    ]
    assert bench.rows() == []
    eventually(lambda: 1 not in bench.panel.prompts, "the prompt is done")
    bench.press(1, LONG_PRESS_S)  # nothing asked any more: technician mode
    bench.light_is(1, "technician_awaited")
    assert [r.type for r in bench.rows()] == ["technician.mode_asked"]

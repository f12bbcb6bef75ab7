"""The bay light while a recorder is reflashed: red flashes counting quarters, like offloading's
green ones, driven from the journal and seen on gpiozero mock pins."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dock import journal
from dock.bays.machine import BayMachine
from dock.bays.states import Trigger
from dock.clock import FixedClock
from dock.db import open_database
from dock.events import EventBus, ReflashProgress, ReflashStarted
from dock.lights import LightsFollower
from hw import gpio
from hw.gpio import FakeLights, GpioLights, LightPins
from tests.integration.bay_lights.conftest import pins  # noqa: F401 (the mock pin fixture)
from tests.integration.bay_lights.pin_history import Ticks, levels

F, T = False, True
SIZE = 1000


@pytest.mark.parametrize(
    ("quarter", "red"),
    [
        (1, [F, T, F]),  # one red flash, then a rest
        (2, [F, T, F, T, F]),
        (4, [F, T, F, T, F, T, F, T, F]),
    ],
)
def test_reflashing_counts_quarters_in_red_flashes_and_keeps_green_off(pins, quarter, red):  # noqa: F811
    ticks = Ticks()
    lights = GpioLights({1: LightPins(red=5, green=6)}, pin_factory=pins, monotonic_s=ticks)
    pattern = gpio.reflashing(quarter)
    lights.show(1, pattern)
    for n in range(int(pattern.cycle_s / 0.05)):  # one whole cycle, off every step boundary
        ticks.now_s = n * 0.05 + 0.01
        lights.render()
    assert (levels(pins, 5), levels(pins, 6)) == (red, [F])
    lights.close()


def test_reflashing_quarters_are_told_apart_from_offloading_and_every_other_pattern():
    patterns = [
        gpio.REFLASHING,
        gpio.FAULT,
        *(gpio.offloading(q) for q in range(1, 5)),
        *(gpio.reflashing(q) for q in range(1, 5)),
    ]
    samples = [tuple(p.color_at(n * 0.05) for n in range(40)) for p in patterns]
    assert len(set(samples)) == len(patterns)


def test_the_bay_light_follows_reflash_progress_in_the_journal(tmp_path):
    clock = FixedClock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    db = open_database(tmp_path / "data", EventBus())
    bay = BayMachine(1, db, clock)
    fake = FakeLights()
    follower = LightsFollower(db, fake, tmp_path, bays=(1,))
    follower.start_up()

    def journaled(happened) -> None:
        with db.transaction() as session:
            journal.append(session, happened, actor="tom", at=clock.now_utc())

    def progress(done: int) -> None:
        journaled(ReflashProgress(bay=1, device="D1", done_bytes=done, total_bytes=SIZE))

    steps = [
        lambda: bay.move(Trigger.DOCKED, device="D1"),
        lambda: bay.move(Trigger.IDENTIFIED),
        lambda: bay.move(Trigger.CHECK_PASSED),
        lambda: bay.move(Trigger.REFLASH_STARTED, reason="reflash 1.1.0"),
        lambda: journaled(
            ReflashStarted(
                bay=1,
                device="D1",
                technician="tom",
                from_version="1.0.0",
                to_version="1.1.0",
                image_sha256="00" * 32,
                resumed_from_bytes=0,
            )
        ),
        lambda: progress(300),
        lambda: progress(600),
        lambda: progress(SIZE),
        lambda: bay.move(Trigger.REFLASH_DONE, reason="firmware 1.1.0 confirmed"),
    ]
    for step in steps:
        step()
        follower.poll()
    assert [name for light, name in fake.history if light == 1] == [
        "off",
        "working",
        "ready",
        "reflashing",  # the recorder is checking the manifest
        "reflashing_1_of_4",
        "reflashing_2_of_4",
        "reflashing_3_of_4",
        "reflashing_4_of_4",
        "working",  # identify and check again with the new firmware
    ]
    db.close()

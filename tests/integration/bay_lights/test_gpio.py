"""Lights and buttons on gpiozero mock pins: whole pin histories, stuck pins, presses."""

from __future__ import annotations

import logging

import pytest
from gpiozero.pins.mock import MockPin

from hw import gpio
from hw.gpio import GpioButtons, GpioLights, LightPins, Press
from tests.integration.bay_lights.pin_history import Ticks, levels

BAY1 = LightPins(red=5, green=6)
BAY2 = LightPins(red=13, green=19, blue=26)  # an RGB LED


def render_at(lights: GpioLights, ticks: Ticks, *times_s: float) -> None:
    for t in times_s:
        ticks.now_s = t
        lights.render()


SAMPLES_S = (0.1, 0.2, 0.35, 0.55, 0.65, 0.8, 1.1, 1.6, 2.15)  # off every step boundary
F, T = False, True


@pytest.mark.parametrize(
    ("pattern", "red", "green"),
    [
        (gpio.OFF, [F], [F]),
        (gpio.READY, [F], [F, T]),
        (gpio.ATTENTION, [F, T], [F, T]),  # amber: both
        (gpio.FAULT, [F, T], [F]),
        (gpio.WORKING, [F], [F, T, F, T]),  # green, 1 s on, 1 s off
        (gpio.NOTE_NEEDED, [F, T, F, T, F, T], [F, T, F, T, F, T]),  # amber, 0.25 s
        (gpio.NOTE_RECORDING, [F, T, F, T, F], [F, T]),  # amber and green, 0.3 s each
        (gpio.REFLASHING, [F, T, F, T, F, T], [F, T, F, T, F]),  # red and green, 0.5 s each
        (gpio.offloading(1), [F], [F, T, F]),  # one flash, then a rest
        (gpio.offloading(3), [F], [F, T, F, T, F, T, F]),  # three flashes
    ],
)
def test_each_pattern_drives_the_whole_expected_pin_history(pins, pattern, red, green):
    ticks = Ticks()
    lights = GpioLights({1: BAY1}, pin_factory=pins, monotonic_s=ticks)
    lights.show(1, pattern)
    render_at(lights, ticks, *SAMPLES_S)
    assert (levels(pins, 5), levels(pins, 6)) == (red, green)
    lights.close()


def test_every_bay_pattern_is_told_apart_within_two_seconds():
    patterns = [
        gpio.OFF,
        gpio.WORKING,
        gpio.READY,
        gpio.ATTENTION,
        gpio.NOTE_NEEDED,
        gpio.NOTE_RECORDING,
        gpio.FAULT,
        gpio.REFLASHING,
        *(gpio.offloading(q) for q in range(1, 5)),
    ]
    samples = [tuple(p.color_at(n * 0.05) for n in range(40)) for p in patterns]
    assert len(set(samples)) == len(patterns)
    assert len({p.name for p in patterns}) == len(patterns)


def test_an_rgb_light_keeps_blue_off_and_pins_change_only_when_the_color_does(pins):
    ticks = Ticks()
    lights = GpioLights({2: BAY2}, pin_factory=pins, monotonic_s=ticks)
    lights.show(2, gpio.ATTENTION)
    render_at(lights, ticks, 0.5, 1.0, 5.0)
    lights.show(2, gpio.READY)
    render_at(lights, ticks, 6.0)
    assert (levels(pins, 13), levels(pins, 19), levels(pins, 26)) == (
        [False, True, False],
        [False, True],
        [False],
    )


class StuckPin(MockPin):
    def _set_state(self, value):
        raise OSError("pin stuck")


def test_a_stuck_pin_is_logged_once_and_the_other_bays_still_light(pins, caplog):
    pins.pin(13, pin_class=StuckPin)
    ticks = Ticks()
    lights = GpioLights({1: BAY1, 2: BAY2}, pin_factory=pins, monotonic_s=ticks)
    with caplog.at_level(logging.WARNING, logger="hw.gpio"):
        lights.show(2, gpio.FAULT)
        lights.show(1, gpio.READY)
        render_at(lights, ticks, 0.1, 0.2, 0.3)
    assert levels(pins, 6) == [False, True]
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["light 2: GPIO failed (OSError: pin stuck); going on without it"]


def test_a_pin_already_taken_leaves_that_light_dark_and_the_rest_working(pins, caplog):
    from gpiozero import LED

    taken = LED(6, pin_factory=pins)  # someone else holds bay 1's green pin
    ticks = Ticks()
    with caplog.at_level(logging.WARNING, logger="hw.gpio"):
        lights = GpioLights({1: BAY1, 2: BAY2}, pin_factory=pins, monotonic_s=ticks)
        lights.show(1, gpio.READY)
        lights.show(2, gpio.READY)
    assert levels(pins, 19) == [False, True]
    assert levels(pins, 6) == [False]  # never driven by the lights
    assert len(caplog.records) == 1 and "light 1: GPIO failed (GPIOPinInUse" in caplog.text
    lights.close()
    taken.close()


def test_a_light_missing_from_the_pin_map_is_logged_not_raised(pins, caplog):
    lights = GpioLights({1: BAY1}, pin_factory=pins, monotonic_s=Ticks())
    with caplog.at_level(logging.WARNING, logger="hw.gpio"):
        lights.show(7, gpio.FAULT)
    assert caplog.messages == ["light 7: not in the pin map; nothing shown"]


def test_a_press_is_short_or_long_by_how_long_it_was_held(pins):
    ticks = Ticks()
    buttons = GpioButtons({1: 20, gpio.TECHNICIAN_BUTTON: 21}, pin_factory=pins, monotonic_s=ticks)
    pressed: list[tuple[object, Press]] = []
    buttons.on_press(lambda button, kind: pressed.append((button, kind)))
    for pin, held_s in ((20, 0.3), (20, 2.5), (21, 1.99)):
        pins.pin(pin).drive_low()
        ticks.now_s += held_s
        pins.pin(pin).drive_high()
        ticks.now_s += 1
    assert pressed == [
        (1, Press.SHORT),
        (1, Press.LONG),
        (gpio.TECHNICIAN_BUTTON, Press.SHORT),
    ]
    buttons.close()


def test_a_failing_press_handler_is_logged_and_the_next_press_still_arrives(pins, caplog):
    ticks = Ticks()
    buttons = GpioButtons({1: 20}, pin_factory=pins, monotonic_s=ticks)
    calls: list[Press] = []

    def handler(button, kind):
        calls.append(kind)
        if len(calls) == 1:
            raise RuntimeError("bug")

    buttons.on_press(handler)
    for _ in range(2):
        pins.pin(20).drive_low()
        pins.pin(20).drive_high()
    assert calls == [Press.SHORT, Press.SHORT]
    assert "button 1: press handler failed" in caplog.text


def test_the_fakes_remember_what_was_shown_and_pressed():
    lights, buttons = gpio.FakeLights(), gpio.FakeButtons()
    seen: list[tuple[object, Press]] = []
    buttons.on_press(lambda b, k: seen.append((b, k)))
    lights.show(1, gpio.ATTENTION)
    lights.show(1, gpio.READY)
    buttons.press(1, Press.LONG)
    assert lights.history == [(1, "attention"), (1, "ready")]
    assert seen == buttons.history == [(1, Press.LONG)]

"""The lights' render thread sleeps while every light is steady (an idle Pi is not woken)."""

from __future__ import annotations

import time

from hw import gpio
from hw.gpio import GpioLights, LightPins

BAY1 = LightPins(red=5, green=6)


class CountingLights(GpioLights):
    renders = 0

    def render(self, now_s: float | None = None) -> None:
        self.renders += 1
        super().render(now_s)


def test_steady_lights_are_not_redrawn_until_a_pattern_changes_and_a_blink_is(pins):
    lights = CountingLights({1: BAY1}, pin_factory=pins, monotonic_s=time.monotonic)
    try:
        lights.show(1, gpio.READY)
        lights.start(interval_s=0.01)
        time.sleep(0.1)  # let the thread settle into its wait
        settled = lights.renders
        time.sleep(0.3)  # thirty intervals: a polling thread would have drawn each
        assert lights.renders == settled
        lights.show(1, gpio.NOTE_NEEDED)
        time.sleep(0.3)
        assert lights.renders > settled + 10  # blinking: drawn every interval
        lights.show(1, gpio.FAULT)
        time.sleep(0.1)
        after_fault = lights.renders
        time.sleep(0.3)
        assert lights.renders == after_fault
        assert pins.pin(5).state and not pins.pin(6).state  # red: the steady fault is shown
    finally:
        lights.close()
    assert lights._thread is not None and not lights._thread.is_alive()

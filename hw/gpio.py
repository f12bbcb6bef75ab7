"""The dock's lights and buttons: per bay a status light and a button, a dock health light, a
technician button.

People at the dock mostly see lights and press buttons, so each light pattern must be told
apart on the cheapest hardware: an RGB LED or a red/green pair (amber is both on). Patterns
are cycles of (color, seconds) and a light's color is a function of the time since its
pattern was shown, so `render(now_s)` is deterministic: tests drive it with chosen times and
compare whole pin histories, and on the Pi one small thread calls it 20 times a second while
a light blinks (and sleeps while every light is steady, so an idle Pi is not woken).

A stuck or missing GPIO must never stop the bays: every gpiozero call is guarded, logged in
one line the first time it fails (not 20 times a second), and the rest of the dock goes on.
Devices get `pin_factory=` passed in; the class-wide `Device.pin_factory` is never touched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

log = logging.getLogger(__name__)

LightId = int | str  # a bay number, or DOCK_LIGHT
ButtonId = int | str  # a bay number, or TECHNICIAN_BUTTON
DOCK_LIGHT = "dock"
TECHNICIAN_BUTTON = "technician"
RENDER_INTERVAL_S = 0.05
DEFAULT_LONG_PRESS_S = 2.0


class Color(StrEnum):
    OFF = "off"
    RED = "red"
    GREEN = "green"
    AMBER = "amber"


# (red, green) channel levels; an RGB LED's blue channel stays off.
CHANNELS: dict[Color, tuple[bool, bool]] = {
    Color.OFF: (False, False),
    Color.RED: (True, False),
    Color.GREEN: (False, True),
    Color.AMBER: (True, True),
}


@dataclass(frozen=True)
class Pattern:
    name: str
    steps: tuple[tuple[Color, float], ...]  # one cycle; a single step is a steady light

    @property
    def cycle_s(self) -> float:
        return sum(seconds for _, seconds in self.steps)

    def color_at(self, elapsed_s: float) -> Color:
        if len(self.steps) == 1:
            return self.steps[0][0]
        phase = elapsed_s % self.cycle_s
        for color, seconds in self.steps:
            if phase < seconds:
                return color
            phase -= seconds
        return self.steps[-1][0]


def steady(name: str, color: Color) -> Pattern:
    return Pattern(name, ((color, 1.0),))


def blink(name: str, color: Color, on_s: float, off_s: float, off: Color = Color.OFF) -> Pattern:
    return Pattern(name, ((color, on_s), (off, off_s)))


def flashes(name: str, color: Color, count: int, *, flash_s: float = 0.15, rest_s: float = 1.0):
    """`count` short flashes, then a rest: counting is easier to read than a blink rate."""
    steps: list[tuple[Color, float]] = []
    for _ in range(count):
        steps += [(color, flash_s), (Color.OFF, flash_s)]
    steps[-1] = (Color.OFF, flash_s + rest_s)
    return Pattern(name, tuple(steps))


OFF = steady("off", Color.OFF)
WORKING = blink("working", Color.GREEN, 1.0, 1.0)  # identifying, checking
READY = steady("ready", Color.GREEN)
ATTENTION = steady("attention", Color.AMBER)
NOTE_NEEDED = blink("note_needed", Color.AMBER, 0.25, 0.25)
NOTE_RECORDING = blink("note_recording", Color.AMBER, 0.3, 0.3, off=Color.GREEN)
FAULT = steady("fault", Color.RED)
REFLASHING = blink("reflashing", Color.RED, 0.5, 0.5, off=Color.GREEN)
HEALTH_OK = steady("health_ok", Color.GREEN)
HEALTH_DEGRADED = blink("health_degraded", Color.AMBER, 1.0, 1.0)
HEALTH_DOWN = blink("health_down", Color.RED, 0.5, 0.5)


def offloading(quarter: int) -> Pattern:
    """Offloading shows progress in quarter steps: 1 to 4 green flashes, then a rest."""
    quarter = min(4, max(1, quarter))
    return flashes(f"offloading_{quarter}_of_4", Color.GREEN, quarter)


def reflashing(quarter: int) -> Pattern:
    """Sending firmware shows progress like offloading, in red: 1 to 4 red flashes, a rest.

    REFLASHING (red and green) is shown before the recorder has taken the image's manifest.
    """
    quarter = min(4, max(1, quarter))
    return flashes(f"reflashing_{quarter}_of_4", Color.RED, quarter)


@dataclass(frozen=True)
class LightPins:
    """One light's GPIO pins: a red/green pair, or an RGB LED (blue wired, kept off)."""

    red: int | str
    green: int | str
    blue: int | str | None = None


class Press(StrEnum):
    SHORT = "short"
    LONG = "long"  # held at least long_press_s: skip, or the technician's menu


PressHandler = Callable[[ButtonId, Press], None]


class Lights(Protocol):
    def show(self, light: LightId, pattern: Pattern) -> None: ...
    def close(self) -> None: ...


class Buttons(Protocol):
    def on_press(self, handler: PressHandler) -> None: ...
    def close(self) -> None: ...


# -- the real adapters: gpiozero ------------------------------------------------------------


class _Guard:
    """Runs gpiozero calls for one light or button; logs the first failure of a run of them."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.is_failing = False

    def run(self, call: Callable[..., object], *args: Any) -> bool:
        try:
            call(*args)
        except Exception as err:  # any driver error: a GPIO must not stop the bays
            if not self.is_failing:
                log.warning(
                    "%s: GPIO failed (%s: %s); going on without it",
                    self.what,
                    type(err).__name__,
                    err,
                )
            self.is_failing = True
            return False
        if self.is_failing:
            log.info("%s: GPIO works again", self.what)
        self.is_failing = False
        return True


@dataclass
class _Light:
    guard: _Guard
    leds: tuple[Any, ...]  # gpiozero LEDs: red, green[, blue]; empty when they could not open
    pattern: Pattern = OFF
    since_s: float = 0.0
    shown: Color | None = None  # what the pins show now; None: unknown, write next render


class GpioLights:
    """Lights on GPIO through gpiozero; call start() on the Pi, render() in tests."""

    def __init__(
        self,
        pins: Mapping[LightId, LightPins],
        *,
        pin_factory: Any,
        monotonic_s: Callable[[], float],
    ) -> None:
        from gpiozero import LED  # only here: importing gpiozero probes for pin libraries

        self._monotonic_s = monotonic_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._changed = threading.Event()  # a pattern was shown: the render thread looks again
        self._thread: threading.Thread | None = None
        self._lights: dict[LightId, _Light] = {}
        for light, spec in pins.items():
            guard = _Guard(f"light {light}")
            leds: list[Any] = []
            numbers = [spec.red, spec.green] + ([spec.blue] if spec.blue is not None else [])
            if not guard.run(_open_leds, LED, numbers, pin_factory, leds):
                for led in leds:
                    _quiet_close(led)
                leds = []
            self._lights[light] = _Light(guard, tuple(leds))

    def show(self, light: LightId, pattern: Pattern) -> None:
        with self._lock:
            state = self._lights.get(light)
            if state is None:
                log.warning("light %s: not in the pin map; nothing shown", light)
                return
            state.pattern, state.since_s = pattern, self._monotonic_s()
        self.render()
        self._changed.set()

    def render(self, now_s: float | None = None) -> None:
        """Put every light in the color its pattern has now; pins change only when it differs."""
        with self._lock:
            now = self._monotonic_s() if now_s is None else now_s
            for state in self._lights.values():
                if not state.leds:
                    continue
                color = state.pattern.color_at(now - state.since_s)
                if color is not state.shown:
                    red, green = CHANNELS[color]
                    ok = state.guard.run(_write, state.leds, red, green)
                    state.shown = color if ok else None

    def start(self, interval_s: float = RENDER_INTERVAL_S) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                if self.is_blinking():
                    self._stop.wait(interval_s)
                else:  # steady lights change only through show(), which renders itself
                    self._changed.wait()
                self._changed.clear()
                self.render()

        self._thread = threading.Thread(target=loop, name="lights", daemon=True)
        self._thread.start()

    def is_blinking(self) -> bool:
        """Whether some light's color changes with time (only then must it be redrawn)."""
        with self._lock:
            return any(len(s.pattern.steps) > 1 for s in self._lights.values() if s.leds)

    def close(self) -> None:
        self._stop.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            for state in self._lights.values():
                for led in state.leds:
                    _quiet_close(led)


def _open_leds(led_class: Any, numbers: list[Any], pin_factory: Any, into: list[Any]) -> None:
    into.extend(led_class(n, pin_factory=pin_factory) for n in numbers)


def _write(leds: tuple[Any, ...], red: bool, green: bool) -> None:
    for led, level in zip(leds, (red, green, False), strict=False):
        if bool(led.value) != level:
            led.value = level


def _quiet_close(device: Any) -> None:
    try:
        device.close()
    except Exception as err:  # closing a broken pin must not stop the others closing
        log.debug("closing %r failed: %s", device, err)


class GpioButtons:
    """Buttons to ground (pull-up); a press is long when held at least `long_press_s`.

    The length is measured on release with the injected clock, not with gpiozero's hold
    thread, so tests decide it exactly.
    """

    def __init__(
        self,
        pins: Mapping[ButtonId, int | str],
        *,
        pin_factory: Any,
        monotonic_s: Callable[[], float],
        long_press_s: float = DEFAULT_LONG_PRESS_S,
    ) -> None:
        from gpiozero import Button

        self._monotonic_s = monotonic_s
        self._long_press_s = long_press_s
        self._handler: PressHandler | None = None
        self._pressed_at: dict[ButtonId, float] = {}
        self._buttons: list[Any] = []
        self._by_id: dict[ButtonId, Any] = {}
        for button_id, pin in pins.items():
            guard = _Guard(f"button {button_id}")
            guard.run(self._open_button, Button, button_id, pin, pin_factory)

    def _open_button(
        self, button_class: Any, button_id: ButtonId, pin: int | str, pin_factory: Any
    ) -> None:
        button = button_class(pin, pull_up=True, pin_factory=pin_factory)
        button.when_pressed = lambda: self._down(button_id)
        button.when_released = lambda: self._up(button_id)
        self._buttons.append(button)
        self._by_id[button_id] = button

    def pin(self, button_id: ButtonId) -> Any:
        """The pin under a button, for a simulated dock to press: under gpiozero's
        MockFactory, `drive_low()` is a finger on the button and `drive_high()` lets go."""
        return self._by_id[button_id].pin

    def on_press(self, handler: PressHandler) -> None:
        self._handler = handler

    def _down(self, button: ButtonId) -> None:
        self._pressed_at[button] = self._monotonic_s()

    def _up(self, button: ButtonId) -> None:
        pressed_at = self._pressed_at.pop(button, None)
        if pressed_at is None or self._handler is None:
            return
        held_s = self._monotonic_s() - pressed_at
        kind = Press.LONG if held_s >= self._long_press_s else Press.SHORT
        try:
            self._handler(button, kind)
        except Exception:  # a bug in the handler: keep gpiozero's thread and the others alive
            log.exception("button %s: press handler failed", button)

    def close(self) -> None:
        for button in self._buttons:
            _quiet_close(button)


# -- fakes that remember ----------------------------------------------------------------------


class FakeLights:
    def __init__(self) -> None:
        self.history: list[tuple[LightId, str]] = []
        self.current: dict[LightId, str] = {}

    def show(self, light: LightId, pattern: Pattern) -> None:
        self.history.append((light, pattern.name))
        self.current[light] = pattern.name

    def close(self) -> None:
        self.history.append(("*", "closed"))


class FakeButtons:
    def __init__(self) -> None:
        self.history: list[tuple[ButtonId, Press]] = []
        self._handler: PressHandler | None = None

    def on_press(self, handler: PressHandler) -> None:
        self._handler = handler

    def press(self, button: ButtonId, kind: Press = Press.SHORT) -> None:
        self.history.append((button, kind))
        if self._handler is not None:
            self._handler(button, kind)

    def close(self) -> None:
        pass

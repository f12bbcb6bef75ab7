"""Helpers for reading mock pins and moving time by hand."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory


def levels(factory: MockFactory, pin: int) -> list[bool]:
    """The whole history of one pin's level, oldest first."""
    return [s.state for s in factory.pin(pin).states]


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s

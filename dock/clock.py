"""Time, injected. Logic takes a Clock and never reads the system time itself, so tests can
put the dock anywhere in time and a wrong recorder clock is measured against one source."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, overload


class Clock(Protocol):
    def now_utc(self) -> datetime: ...
    def monotonic_s(self) -> float: ...


class SystemClock:
    def now_utc(self) -> datetime:
        return datetime.now(UTC)

    def monotonic_s(self) -> float:
        return time.monotonic()


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware UTC datetime")
        self._now = start
        self._mono = 0.0

    def now_utc(self) -> datetime:
        return self._now

    def monotonic_s(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


def to_epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@overload
def stored_time(value: str) -> datetime: ...
@overload
def stored_time(value: None) -> None: ...
def stored_time(value: str | None) -> datetime | None:
    """A time as SQLite keeps it (naive UTC, ISO text, read without SQLAlchemy) with its
    zone given back."""
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

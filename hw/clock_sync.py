"""Is the dock's own clock trustworthy? The dock sets recorder clocks only when it is.

On the Pi, systemd-timesyncd or chrony keeps the clock; `timedatectl` reports whether it is
synchronised. A dock that lost its time source must not spread a wrong time to recorders.
"""

from __future__ import annotations

import subprocess
from typing import Protocol


class ClockSync(Protocol):
    def is_synchronised(self) -> bool: ...


class TimedatectlClockSync:
    """The real adapter: asks systemd."""

    def is_synchronised(self) -> bool:
        try:
            out = subprocess.run(
                ["timedatectl", "show", "--property=NTPSynchronized", "--value"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out.stdout.strip() == "yes"


class FakeClockSync:
    """For machines without a time service, and for tests; remembers every question."""

    def __init__(self, is_synchronised: bool = True) -> None:
        self.synchronised = is_synchronised
        self.asked = 0

    def is_synchronised(self) -> bool:
        self.asked += 1
        return self.synchronised

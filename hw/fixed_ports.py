"""Recorders on fixed serial ports, for a dock without udev (a desktop station, a test).

A bay bound in the config (`[bays.fixed.N] port = "/dev/ttyACM0"`) has its recorder docked
while that port exists and taken out when it vanishes: the pty of a `recorder-sim` that
stops, or a USB recorder unplugged from the PC. The path is checked every `poll_s`; there is
no hot-plug event to wait for without udev, and half a second is quick next to a docking.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from hw.hotplug import HotplugEvent, RecorderAttached, RecorderDetached, StartupScanDone

POLL_S = 0.5


class FixedPortsHotplug:
    """A HotplugSource over {usb_port_path: serial port path}."""

    def __init__(
        self,
        ports: Mapping[str, str],
        *,
        poll_s: float = POLL_S,
        exists: Callable[[str], bool] = os.path.exists,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ports = dict(ports)
        self.poll_s = poll_s
        self._exists = exists
        self._monotonic_s = monotonic_s
        self._present: set[str] = set()
        self._pending: deque[HotplugEvent] = deque()
        self._woken = threading.Event()
        self._look()
        self._pending.append(StartupScanDone())

    def _look(self) -> None:
        """Queue an arrival for each port that appeared and a departure for each that went."""
        for port_path, serial_port in self.ports.items():
            is_there = self._exists(serial_port)
            if is_there and port_path not in self._present:
                self._present.add(port_path)
                self._pending.append(RecorderAttached(port_path, serial_port))
            elif not is_there and port_path in self._present:
                self._present.discard(port_path)
                self._pending.append(RecorderDetached(port_path))

    def next_event(self, timeout_s: float | None = None) -> HotplugEvent | None:
        deadline = None if timeout_s is None else self._monotonic_s() + timeout_s
        while True:
            if self._pending:
                return self._pending.popleft()
            wait_s = self.poll_s
            if deadline is not None:
                wait_s = min(wait_s, deadline - self._monotonic_s())
                if wait_s <= 0:
                    return None
            if self._woken.wait(wait_s):
                self._woken.clear()
                return None
            self._look()

    def wake(self) -> None:
        self._woken.set()

    def close(self) -> None:
        self._pending.clear()

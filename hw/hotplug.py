"""Recorders arriving in and leaving bays.

A docked recorder shows up as a serial port (its protocol link) and a mass-storage disk on
the same USB port. Both are tied to the bay by the USB port path (e.g. "1-1.2", from the
hub the bay is wired to), never by guessing from names or arrival order.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RecorderAttached:
    usb_port_path: str
    serial_port: str  # e.g. /dev/ttyACM0, or a pty path from the simulator


@dataclass(frozen=True)
class RecorderDetached:
    usb_port_path: str


HotplugEvent = RecorderAttached | RecorderDetached


class HotplugSource(Protocol):
    def next_event(self, timeout_s: float) -> HotplugEvent | None:
        """The next arrival or departure, or None when none came within timeout_s."""
        ...

    def close(self) -> None: ...


def usb_port_path_of(device) -> str | None:  # a pyudev.Device
    """The USB port path ("1-1.2") of the USB device a tty or disk hangs off."""
    usb = device.find_parent("usb", "usb_device")
    return usb.sys_name if usb is not None else None


class UdevHotplug:
    """The real adapter: pyudev's monitor on the tty subsystem.

    A recorder's ACM tty appearing is the arrival; its disk appears only once the protocol
    has unlocked mass storage, and is found later by the same USB port path
    (hw.mass_storage). Recorders already present at start are reported as arrivals.
    """

    def __init__(self) -> None:
        import pyudev  # only on a machine with udev

        self._context = pyudev.Context()
        self._monitor = pyudev.Monitor.from_netlink(self._context)
        self._monitor.filter_by(subsystem="tty")
        self._monitor.start()
        self._pending: list[HotplugEvent] = []
        for device in self._context.list_devices(subsystem="tty"):
            event = self._event_for("add", device)
            if event is not None:
                self._pending.append(event)

    def _event_for(self, action: str, device) -> HotplugEvent | None:
        port = usb_port_path_of(device)
        if port is None or device.device_node is None:
            return None
        if action == "add":
            return RecorderAttached(port, device.device_node)
        if action == "remove":
            return RecorderDetached(port)
        return None

    def next_event(self, timeout_s: float) -> HotplugEvent | None:
        if self._pending:
            return self._pending.pop(0)
        device = self._monitor.poll(timeout=timeout_s)
        if device is None:
            return None
        return self._event_for(device.action, device)

    def close(self) -> None:
        # pyudev's Monitor has no stop(); its netlink socket closes with the object.
        self._pending.clear()


class SimulatedHotplug:
    """Arrivals and departures driven by the recorder simulator (or a test)."""

    def __init__(self) -> None:
        self._events: queue.Queue[HotplugEvent] = queue.Queue()
        self._lock = threading.Lock()
        self.history: list[HotplugEvent] = []

    def attach(self, usb_port_path: str, serial_port: str) -> None:
        self._put(RecorderAttached(usb_port_path, serial_port))

    def detach(self, usb_port_path: str) -> None:
        self._put(RecorderDetached(usb_port_path))

    def _put(self, event: HotplugEvent) -> None:
        with self._lock:
            self.history.append(event)
        self._events.put(event)

    def next_event(self, timeout_s: float) -> HotplugEvent | None:
        try:
            return self._events.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def close(self) -> None:
        pass

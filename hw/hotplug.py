"""Recorders arriving in and leaving bays.

A docked recorder shows up as a serial port (its protocol link) and a mass-storage disk on
the same USB port. Both are tied to the bay by the USB port path (e.g. "1-1.2", from the
hub the bay is wired to), never by guessing from names or arrival order.
"""

from __future__ import annotations

import queue
import selectors
import socket
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


@dataclass(frozen=True)
class StartupScanDone:
    """Every recorder already docked when the source started has been reported.

    A bay the database says was occupied but whose recorder was not among them lost it
    while the dock was stopped; one whose recorder was among them never lost it."""


HotplugEvent = RecorderAttached | RecorderDetached | StartupScanDone


class HotplugSource(Protocol):
    def next_event(self, timeout_s: float | None = None) -> HotplugEvent | None:
        """The next event; None when none came within timeout_s or `wake` was called.

        timeout_s=None blocks until one of those, without waking in between: an idle dock
        sleeps."""
        ...

    def wake(self) -> None:
        """Make a blocked (or the next) `next_event` return None now; from any thread."""
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
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._monitor.fileno(), selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._pending: list[HotplugEvent] = []
        for device in self._context.list_devices(subsystem="tty"):
            event = self._event_for("add", device)
            if event is not None:
                self._pending.append(event)
        self._pending.append(StartupScanDone())

    def _event_for(self, action: str, device) -> HotplugEvent | None:
        port = usb_port_path_of(device)
        if port is None or device.device_node is None:
            return None
        if action == "add":
            return RecorderAttached(port, device.device_node)
        if action == "remove":
            return RecorderDetached(port)
        return None

    def next_event(self, timeout_s: float | None = None) -> HotplugEvent | None:
        if self._pending:
            return self._pending.pop(0)
        for key, _ in self._selector.select(timeout_s):
            if key.fileobj is self._wake_r:
                while True:  # drain every wake written so far
                    try:
                        if not self._wake_r.recv(64):
                            break
                    except BlockingIOError:
                        break
                return None
        device = self._monitor.poll(timeout=0)
        if device is None:
            return None
        return self._event_for(device.action, device)

    def wake(self) -> None:
        self._wake_w.send(b"w")

    def close(self) -> None:
        # pyudev's Monitor has no stop(); its netlink socket closes with the object.
        self._pending.clear()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()


class SimulatedHotplug:
    """Arrivals and departures driven by the recorder simulator (or a test).

    `scan_done` is the simulated start-up scan ending: call it once the recorders that
    were in their bays before the dock started have been attached."""

    def __init__(self) -> None:
        self._events: queue.Queue[HotplugEvent | None] = queue.Queue()
        self._lock = threading.Lock()
        self.history: list[HotplugEvent] = []

    def attach(self, usb_port_path: str, serial_port: str) -> None:
        self._put(RecorderAttached(usb_port_path, serial_port))

    def detach(self, usb_port_path: str) -> None:
        self._put(RecorderDetached(usb_port_path))

    def scan_done(self) -> None:
        self._put(StartupScanDone())

    def _put(self, event: HotplugEvent) -> None:
        with self._lock:
            self.history.append(event)
        self._events.put(event)

    def next_event(self, timeout_s: float | None = None) -> HotplugEvent | None:
        try:
            return self._events.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def wake(self) -> None:
        self._events.put(None)

    def close(self) -> None:
        pass

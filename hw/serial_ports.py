"""Finding recorders' serial ports, and which bay each sits in, through pyserial.

A bay is known by the USB port path of the hub port it is wired to ("1-1.2"), mapped in the
dock's config file. pyserial reports a USB tty's location as that path plus the interface
("1-1.2:1.0"); the interface part is dropped, so a port and the recorder's disk, which hangs
off the same USB device, are tied together by the same key. Nothing is guessed from device
names or arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SerialPortInfo:
    device: str  # /dev/ttyACM0, or a pty path from the simulator
    usb_port_path: str  # "1-1.2": the USB device, without the interface suffix
    vid: int
    pid: int
    serial_number: str | None = None


class SerialPortSource(Protocol):
    def ports(self) -> list[SerialPortInfo]:
        """The USB serial ports present now."""
        ...


def usb_port_path(location: str) -> str:
    """ "1-1.2:1.0" -> "1-1.2": the USB device a tty's interface belongs to."""
    return location.split(":", 1)[0]


class PyserialPorts:
    """The real adapter: pyserial's port listing (sysfs on Linux).

    Only ports with a USB location and ids are kept; with `vid_pids`, only those models.
    """

    def __init__(self, vid_pids: Iterable[tuple[int, int]] | None = None) -> None:
        self.vid_pids = frozenset(vid_pids) if vid_pids is not None else None

    def ports(self) -> list[SerialPortInfo]:
        from serial.tools import list_ports

        found = []
        for port in list_ports.comports():
            if not port.location or port.vid is None or port.pid is None:
                continue
            if self.vid_pids is not None and (port.vid, port.pid) not in self.vid_pids:
                continue
            found.append(
                SerialPortInfo(
                    device=port.device,
                    usb_port_path=usb_port_path(port.location),
                    vid=port.vid,
                    pid=port.pid,
                    serial_number=port.serial_number,
                )
            )
        return sorted(found, key=lambda p: p.usb_port_path)


class FakeSerialPorts:
    """An explicit list, for machines without USB recorders (the simulator's ptys)."""

    def __init__(self, ports: Iterable[SerialPortInfo] = ()) -> None:
        self._ports = list(ports)

    def add(self, port: SerialPortInfo) -> None:
        self._ports.append(port)

    def remove(self, device: str) -> None:
        self._ports = [p for p in self._ports if p.device != device]

    def ports(self) -> list[SerialPortInfo]:
        return list(self._ports)


def bay_of(usb_path: str, bays_by_usb_port_path: Mapping[str, int]) -> int | None:
    """The bay wired to this USB port path (with or without ":1.0"), or None if unmapped."""
    return bays_by_usb_port_path.get(usb_port_path(usb_path))


def ports_by_bay(
    source: SerialPortSource, bays_by_usb_port_path: Mapping[str, int]
) -> dict[int, SerialPortInfo]:
    """The serial port present in each mapped bay; ports on unmapped USB ports are ignored."""
    found = {}
    for port in source.ports():
        bay = bay_of(port.usb_port_path, bays_by_usb_port_path)
        if bay is not None:
            found[bay] = port
    return found

"""Byte pipes to a recorder: the serial port (or a pty), or the firmware itself in memory.

The link above needs only three primitives, so it runs unchanged over a USB serial port on
the Pi, over the simulator's pty in integration tests, and over an in-memory pipe into the
real firmware's request handler in unit tests (no pty, no thread, no timing).
"""

from __future__ import annotations

import select
import time
from typing import TYPE_CHECKING, Protocol

import serial

from firmware_bridge.errors import LinkError

if TYPE_CHECKING:
    from firmware_bridge.firmware.recorder import Recorder


class TransportClosed(LinkError):
    """The port went away (recorder unplugged) or was closed."""


class Transport(Protocol):
    """What the link needs from a byte pipe. Every call is bounded in time."""

    def write(self, data: bytes) -> None:
        """Send all of data, or raise TransportClosed."""
        ...

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        """Return 1 to max_bytes bytes, or b"" when none came within timeout_s."""
        ...

    def close(self) -> None: ...


class SerialTransport:
    """A pyserial port: a recorder's CDC-ACM tty, or the simulator's pty.

    `exclusive=True` takes an advisory lock, so two dock processes can never interleave
    frames on one recorder. A vanished port raises TransportClosed, never SerialException.
    """

    def __init__(self, path: str, *, write_timeout_s: float = 2.0) -> None:
        self.path = path
        try:
            self._port = serial.Serial(
                path, timeout=0, write_timeout=write_timeout_s, exclusive=True
            )
        except (serial.SerialException, OSError) as err:
            raise TransportClosed(
                f"cannot open {path} ({_reason(err)}): check the recorder is docked "
                "and no other program holds the port"
            ) from None

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError, TypeError, ValueError) as err:
            # As in read: a port closed by another thread (unplugged) gives TypeError.
            raise TransportClosed(_gone(self.path, "write", err)) from None

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        try:
            # Wait with select rather than the port's timeout: changing that reconfigures
            # the tty (tcsetattr) on every call.
            ready, _, _ = select.select([self._port.fileno()], [], [], max(timeout_s, 0.0))
            if not ready:
                return b""
            # A readable port with nothing to read is a vanished device: pyserial raises.
            return bytes(self._port.read(max(1, min(self._port.in_waiting, max_bytes))))
        except (serial.SerialException, OSError, TypeError, ValueError) as err:
            # A port closed under us by another thread shows up as TypeError or ValueError.
            raise TransportClosed(_gone(self.path, "read", err)) from None

    def close(self) -> None:
        self._port.close()


def _gone(path: str, what: str, err: BaseException) -> str:
    return (
        f"recorder port {path} went away ({what}: {_reason(err)}): "
        "it was unplugged or lost power; dock it again"
    )


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


class MemoryTransport:
    """A pipe straight into a firmware `Recorder`: write calls its byte handler at once.

    For unit tests of the link against the real request handling. A read that finds
    nothing waits timeout_s, as a quiet line would, and tells the recorder the line went
    idle so it drops any partial frame, as its I/O loop does after FRAME_IDLE_MS.
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._pending = b""
        self.is_closed = False

    def write(self, data: bytes) -> None:
        if self.is_closed:
            raise TransportClosed("memory pipe is closed")
        self._pending += self.recorder.receive(bytes(data))

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        if self.is_closed:
            raise TransportClosed("memory pipe is closed")
        if not self._pending:
            time.sleep(max(timeout_s, 0.0))
            self.recorder.on_line_idle()
            return b""
        data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return data

    def close(self) -> None:
        self.is_closed = True

"""A simulated recorder on a pseudo-terminal, running the real firmware's `Recorder`.

The I/O loop is the simulator's stand-in for firmware/main.py: it moves bytes between the
pty and `Recorder.receive`, tells the recorder when the line went quiet mid-frame, and
applies `Faults` to what the recorder sends. `unplug()`/`plug()` are USB detach and attach:
the pty goes away (the dock sees its port vanish) and the firmware forgets the insertion.
"""

import os
import pty
import select
import threading
import time
import tty
from pathlib import Path

from firmware_bridge.firmware import update
from firmware_bridge.firmware.recorder import FRAME_IDLE_MS, Recorder
from firmware_bridge.framing import encode_frame
from firmware_bridge.sim.board import SimBoard
from firmware_bridge.sim.clips import GeneratedClip
from firmware_bridge.sim.faults import Faults
from firmware_bridge.sim.storage import Storage

POLL_S = 0.02
READ_BYTES = 4096
DISCONNECT_DELAY_S = 0.1


class SimRecorder:
    """A recorder on a pty. `start()` returns the port path; use as a context manager."""

    def __init__(
        self,
        storage: Storage,
        *,
        serial: str = "ZFY00001",
        model: str = "ZFY-SIM",
        firmware_version: str = "1.0.0",
        battery_pct: int = 90,
        is_charging: bool = True,
        clock_skew_s: float = 0.0,
        key: bytes | None = None,
        identity: dict | None = None,
        clips: list[GeneratedClip] | None = None,
        events: list[dict] | None = None,
        is_recording: bool = False,
        faults: Faults = Faults(),  # noqa: B008 - frozen, so a shared default is safe
        on_mass_storage=None,
        trusted_keys: list[bytes] | None = None,
    ) -> None:
        self.faults = faults
        self.board = SimBoard(
            storage,
            serial=serial,
            model=model,
            firmware_version=firmware_version,
            battery_pct=battery_pct,
            is_charging=is_charging,
            clock_skew_s=clock_skew_s,
            clips=clips,
            events=events,
            key=key,
            identity=identity,
            is_recording=is_recording,
            lie_about_sizes=faults.lie_about_sizes,
            on_mass_storage=on_mass_storage,
            trusted_keys=_dev_keys() if trusted_keys is None else trusted_keys,
            failing_self_test_version=faults.failing_self_test_version,
        )
        self.boots = 0
        """Power-ons so far: a committed firmware image makes the recorder boot again."""
        self._power_on()
        self.recorder = Recorder(self.board, protocol_version=faults.protocol_version)
        self.lock = threading.Lock()
        """Held while the firmware handles bytes: take it to change the board from a test."""
        self.port: str | None = None
        self.frames_sent = 0
        self.requests_seen = 0
        self._master: int | None = None
        self._slave: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._plug_lock = threading.Lock()  # plug/unplug from a test and a fault at once
        self._bytes_sent = 0

    @property
    def storage(self) -> Storage:
        return self.board.storage

    @property
    def is_plugged(self) -> bool:
        return self._thread is not None

    def start(self) -> str:
        return self.plug()

    def stop(self) -> None:
        self.unplug()

    def __enter__(self) -> "SimRecorder":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def plug(self) -> str:
        """USB attach: a new pty, a new insertion. Returns the port path."""
        with self._plug_lock:
            if self._thread is not None:
                raise RuntimeError("the simulated recorder is already plugged in")
            master, slave = pty.openpty()
            tty.setraw(slave)  # bytes pass untouched: no echo, no CR/LF translation
            os.set_blocking(master, False)
            self._master, self._slave = master, slave
            self.port = os.ttyname(slave)
            self.frames_sent = 0
            self.requests_seen = 0
            self._bytes_sent = 0
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name=f"sim-recorder-{self.board.serial()}", daemon=True
            )
            self._thread.start()
            return self.port

    def unplug(self) -> None:
        """USB detach: the port vanishes, authentication ends, mass storage goes off."""
        with self._plug_lock:
            thread = self._thread
            if thread is None:
                return
            self._stop.set()
            thread.join(timeout=5)
            self._thread = None
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
            with self.lock:
                self.recorder.on_usb_detached()

    def _power_on(self) -> None:
        update.power_on(self.board)
        self.boots += 1

    def _reboot_if_asked(self) -> None:
        """After FirmwareCommit's reply: boot the new slot (test boot, self-test, confirm or
        roll back). The insertion ends as it would when a real recorder resets."""
        with self.lock:
            if not self.recorder.reboot_requested:
                return
            self.recorder.reboot_requested = False
            self.recorder.on_usb_detached()
            self._power_on()

    def _unplug_soon(self) -> None:
        # Let the half frame reach the host before the port vanishes, as on a real cable.
        time.sleep(DISCONNECT_DELAY_S)
        self.unplug()

    def _loop(self) -> None:
        master = self._master
        assert master is not None
        last_rx_s = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([master], [], [], POLL_S)
            now_s = time.monotonic()
            if not ready:
                with self.lock:
                    if (
                        self.recorder.has_partial_frame()
                        and now_s - last_rx_s >= FRAME_IDLE_MS / 1000
                    ):
                        self.recorder.on_line_idle()
                continue
            try:
                data = os.read(master, READ_BYTES)
            except BlockingIOError:
                continue
            except OSError:
                return  # the pty is gone
            last_rx_s = now_s
            out = self._answer(data)
            if out and not self._send(out):
                return
            self._reboot_if_asked()

    def _answer(self, data: bytes) -> list[bytes]:
        """Reply frames for the bytes received, each kept whole so faults can target frames."""
        with self.lock:
            replies = []
            for request in self.recorder.feed(data):
                self.requests_seen += 1
                if self.requests_seen <= self.faults.ignore_requests:
                    continue
                reply = self.recorder.handle(request)
                replies.append(encode_frame(reply.seq, reply.msg_id, reply.payload))
            return replies

    def _send(self, frames: list[bytes]) -> bool:
        """Write reply frames with the faults applied; False once the recorder unplugged."""
        faults = self.faults
        for frame in frames:
            self.frames_sent += 1
            limit = faults.disconnect_after_frames
            if limit is not None and self.frames_sent > limit:
                self._write(frame[: len(frame) // 2])
                threading.Thread(target=self._unplug_soon, daemon=True).start()
                return False
            if faults.corrupt_frame_every and self.frames_sent % faults.corrupt_frame_every == 0:
                frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
            self._write(self._mangle(frame))
        return True

    def _mangle(self, data: bytes) -> bytes:
        faults = self.faults
        if not (faults.drop_byte_every or faults.corrupt_byte_every):
            self._bytes_sent += len(data)
            return data
        out = bytearray()
        for byte in data:
            self._bytes_sent += 1
            if faults.drop_byte_every and self._bytes_sent % faults.drop_byte_every == 0:
                continue
            if faults.corrupt_byte_every and self._bytes_sent % faults.corrupt_byte_every == 0:
                byte ^= 0xFF
            out.append(byte)
        return bytes(out)

    def _write(self, data: bytes) -> None:
        master = self._master
        assert master is not None
        rate = self.faults.slow_link_bytes_per_s
        chunk = len(data) if rate is None else max(1, rate // 50)
        view = memoryview(data)
        while view and not self._stop.is_set():
            select.select([], [master], [], POLL_S)
            try:
                written = os.write(master, view[:chunk])
            except BlockingIOError:
                continue
            view = view[written:]
            if rate is not None:
                time.sleep(written / rate)


def _dev_keys() -> list[bytes]:
    """A simulated recorder trusts the development signing key, as no real one does."""
    from firmware_bridge.image import dev_public_key

    return [dev_public_key()]


def directory_recorder(root: Path, clips: list[GeneratedClip], **kwargs) -> SimRecorder:
    """A SimRecorder whose card is a directory already holding `clips` (for tests)."""
    from firmware_bridge.sim.storage import DirectoryStorage

    serial = kwargs.get("serial", "ZFY00001")
    storage = DirectoryStorage.create(root, serial, clips)
    return SimRecorder(storage, clips=clips, **kwargs)

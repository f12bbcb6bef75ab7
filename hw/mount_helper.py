"""Mounting a recorder's card read-only, for a dock that holds no privilege to mount.

The dock runs with an empty capability set, so mounting is asked of this minimal helper:
`bodycam-dock-mount.socket` (group dock only) starts one `bodycam-dock-mount@.service` per
connection (Accept=yes), which runs `python -m hw.mount_helper` as root with CAP_SYS_ADMIN
alone, reads one request line, answers one line and exits. It mounts only a disk on the
asked bay's USB port whose volume label is the recorder's serial, only read-only, nosuid,
nodev, noexec, and only under MOUNT_ROOT; it unmounts only what is under MOUNT_ROOT.

Request and answer are one JSON object each:
  {"op": "mount", "port": "1-1.2", "serial": "ZFY00042"} -> {"ok": true, "mountpoint": "..."}
  {"op": "umount", "port": "1-1.2"} -> {"ok": true}
  anything refused -> {"ok": false, "error": "<one line: what went wrong, what to do>"}
"""

from __future__ import annotations

import json
import re
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hw.mass_storage import (
    BlockDevice,
    DirectoryMassStorage,
    MassStorage,
    MassStorageError,
    WrongVolume,
    find_block_devices,
    mount_options,
)

SOCKET_PATH = Path("/run/bodycam-dock-mount/socket")
MOUNT_ROOT = Path("/run/bodycam-dock-mount/media")
USB_PORT = re.compile(r"^\d{1,3}-\d{1,3}(\.\d{1,3}){0,6}$")  # a kernel USB port name
SERIAL = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_REQUEST_BYTES = 512
TIMEOUT_S = 30.0


class MountRefused(MassStorageError):
    """The mount helper refused or failed a request; its reason says what to do."""


def _run_checked(argv: list[str]) -> None:
    from hw.mass_storage import _run_checked as run

    run(argv)


class MountHelper:
    """What one request may do; `find` and `run` are udev and mount(8) on the Pi."""

    def __init__(
        self,
        mount_root: Path = MOUNT_ROOT,
        *,
        find: Callable[[str], list[BlockDevice]] = find_block_devices,
        run: Callable[[list[str]], None] = _run_checked,
        oem_code_page: str = "cp936",
    ) -> None:
        self.mount_root = mount_root
        self.find, self.run, self.oem_code_page = find, run, oem_code_page

    def answer(self, request_line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(request_line.decode("utf-8"))
            if not isinstance(request, dict):
                raise ValueError
        except ValueError:
            return _refused("the request is not one JSON object; this is a dock bug")
        port = request.get("port")
        if not isinstance(port, str) or not USB_PORT.match(port):
            return _refused(f"{port!r} is not a USB port name; check [bays] usb_port_paths")
        try:
            if request.get("op") == "mount":
                serial = request.get("serial")
                if not isinstance(serial, str) or not SERIAL.match(serial):
                    return _refused(f"{serial!r} is not a recorder serial; re-dock the recorder")
                return {"ok": True, "mountpoint": str(self.mount(port, serial))}
            if request.get("op") == "umount":
                self.umount(port)
                return {"ok": True}
        except MassStorageError as err:
            return _refused(str(err))
        return _refused(f"unknown op {request.get('op')!r}; this is a dock bug")

    def mount(self, port: str, serial: str) -> Path:
        devices = self.find(port)
        if not devices:
            raise MassStorageError(
                f"USB port {port}: no storage volume appeared; "
                "check the recorder unlocked mass storage, then re-dock."
            )
        matching = [d for d in devices if d.label.strip().upper() == serial.upper()]
        if not matching:
            seen = ", ".join(f"{d.node} label={d.label!r}" for d in devices)
            raise WrongVolume(
                f"USB port {port}: disk ({seen}) is not recorder {serial}; remove it from the bay."
            )
        device = matching[0]
        mountpoint = self.mount_root / port
        mountpoint.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.run(
            [
                "mount",
                "-o",
                mount_options(device.fs_type, self.oem_code_page),
                device.node,
                str(mountpoint),
            ]
        )
        return mountpoint

    def umount(self, port: str) -> None:
        mountpoint = self.mount_root / port
        if mountpoint.is_mount():
            self.run(["umount", str(mountpoint)])


def _refused(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


def serve_one(conn: socket.socket, helper: MountHelper) -> None:
    """Read one request line from the connection, write the one answer line."""
    conn.settimeout(TIMEOUT_S)
    request = b""
    while b"\n" not in request and len(request) < MAX_REQUEST_BYTES:
        chunk = conn.recv(MAX_REQUEST_BYTES)
        if not chunk:
            break
        request += chunk
    answer = helper.answer(request.split(b"\n", 1)[0])
    conn.sendall(json.dumps(answer).encode("utf-8") + b"\n")


def ask(socket_path: Path, request: dict[str, Any]) -> dict[str, Any]:
    """The dock's side: one request to the helper, its answer; MountRefused if it refused."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(TIMEOUT_S)
            conn.connect(str(socket_path))
            conn.sendall(json.dumps(request).encode("utf-8") + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError as err:
        raise MountRefused(
            f"cannot reach the mount helper at {socket_path}: {err.strerror or err}; "
            "start bodycam-dock-mount.socket (make install)."
        ) from None
    try:
        answer = json.loads(reply.decode("utf-8"))
    except ValueError:
        raise MountRefused("the mount helper gave no answer; see its journal") from None
    if not answer.get("ok"):
        raise MountRefused(str(answer.get("error", "refused")))
    return dict(answer)


class HelperMountedStorage(DirectoryMassStorage):
    """A card the helper mounted read-only; closing it asks the helper to unmount it."""

    def __init__(self, socket_path: Path, port: str, mountpoint: Path, label: str) -> None:
        super().__init__(mountpoint, label=label)
        self.socket_path, self.port = socket_path, port
        self.is_mounted = True

    def close(self) -> None:
        if self.is_mounted:
            ask(self.socket_path, {"op": "umount", "port": self.port})
            self.is_mounted = False


class HelperVolumes:
    """The VolumeFinder on the Pi: the helper mounts, the dock reads."""

    def __init__(self, socket_path: Path = SOCKET_PATH) -> None:
        self.socket_path = socket_path

    def open_volume(self, usb_port_path: str, recorder_serial: str) -> MassStorage:
        answer = ask(
            self.socket_path, {"op": "mount", "port": usb_port_path, "serial": recorder_serial}
        )
        return HelperMountedStorage(
            self.socket_path, usb_port_path, Path(answer["mountpoint"]), recorder_serial
        )


def main() -> int:
    """Run by bodycam-dock-mount@.service: the accepted connection is standard input."""
    conn = socket.socket(fileno=sys.stdin.fileno())
    try:
        serve_one(conn, MountHelper())
    finally:
        conn.detach()
    return 0


if __name__ == "__main__":
    sys.exit(main())

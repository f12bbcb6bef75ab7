"""The local control channel: how `dock check` reaches the running service.

A unix socket at `<data_dir>/control.sock`, mode 0600 inside the service's private data
folder, so only the service's user can ask. One JSON object per line each way:
    {"op": "bays"}               -> {"ok": true, "bays": [{"number", "state", "device", "reason"}]}
    {"op": "recheck", "bay": N}  -> {"ok": true} once the bay's worker has the request queued
    {"op": "reflash", "bay": N, "image": PATH, "user", "password"}
                                 -> {"ok": true, "outcome": "<one line>", "confirmed": bool}
                                    once it is done
    {"op": "reflash", "bay": N, "image_sha256": HEX, ...}   the same, with a staged image
    {"op": "firmware_stage", "image": PATH, "user", "password"}
                                 -> {"ok": true, "image": "<one line>"}
    {"op": "firmware_list"}      -> {"ok": true, "images": [{"sha256", "model", ...}]}
    {"op": "firmware_remove", "image_sha256": HEX or a prefix, "user", "password"}
                                 -> {"ok": true, "image": "<one line>"}
    {"op": "firmware_update_all", "model", "version" (both optional), "user", "password"}
                                 -> {"ok": true, "results": [{"bay", "serial", ...}]}
    {"op": "offload_confirm", "bay": N, "user", "password"}
                                 -> {"ok": true, "confirmed_by": [...], "needed": 2}
    {"op": "technician_enter", "bay": N, "user", "password"}
                                 -> {"ok": true, "technician": "<user name>"}
    {"op": "technician_leave", "bay": N}
                                 -> {"ok": true}
    anything else                -> {"ok": false, "error": "<one line>"}
Every op that changes something but `recheck` and `technician_leave` (which only take a
step or a right back) carries a person: "user" and "password" are checked by the command
layer (dock.people.accounts, a wrong password counting towards the lock-out), and what the
person may do is decided there and in the bay's step, not here. A `reflash` without them is
the technician's who put the bay in technician mode (dock.technician), or refused.
Why a socket and not the database: a recheck must reach the thread that owns the bay's
link; the database only tells what happened afterwards (the CLI reads the journal for that).
Every connection is bounded: a line length, a read timeout, and one request per connection.
The server thread sleeps in a selector until a client connects or `stop` wakes it: no
polling interval, so an idle dock does not wake for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dock.bays.states import BayState
from dock.errors import DockError
from dock.i18n import t

if TYPE_CHECKING:  # the CLI's side imports this module: it must not load the whole service
    from dock.people.roles import Actor
    from dock.reflash.staging import Staging
    from dock.service import BayWorker, DockService

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
MAX_LINE_BYTES = 4096
REQUEST_TIMEOUT_S = 5.0
REFLASH_WAIT_S = 1800.0  # a 1 MiB image over a slow link, its test boot and check
BATCH_WAIT_S = REFLASH_WAIT_S * 16  # every bay (a dock has at most 16), one after another
NOT_RUNNING = "the dock service is not running: start it with `dock serve`"


class ControlError(DockError):
    """The control channel failed or refused a request; the message says why."""


class ServiceNotRunning(ControlError):
    def __init__(self) -> None:
        super().__init__(NOT_RUNNING)


def socket_path(data_dir: Path) -> Path:
    return Path(data_dir) / SOCKET_NAME


# -- the service's side -----------------------------------------------------------------------


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.connection.settimeout(REQUEST_TIMEOUT_S)
        try:
            line = self.rfile.readline(MAX_LINE_BYTES + 1)
        except OSError:
            return  # the client went quiet or away: nothing was asked
        if len(line) > MAX_LINE_BYTES:
            reply = _error(f"request longer than {MAX_LINE_BYTES} bytes: refused")
        else:
            reply = answer(self.server.service, line)
        with contextlib.suppress(OSError):
            self.wfile.write(json.dumps(reply, ensure_ascii=False).encode("utf-8") + b"\n")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    service: DockService


def answer(service: DockService, line: bytes) -> dict[str, Any]:
    """The reply to one request line; never raises for bad input."""
    try:
        request = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _error('request is not one line of JSON, e.g. {"op": "bays"}')
    if not isinstance(request, dict):
        return _error('request must be a JSON object, e.g. {"op": "bays"}')
    op = request.get("op")
    if op == "bays":
        return {"ok": True, "bays": [_bay_view(service, n) for n in sorted(service.bays)]}
    if op == "recheck":
        number = request.get("bay")
        worker = service.bays.get(number) if isinstance(number, int) else None
        if worker is None:
            return _error(f"no bay {number!r}: this dock has bays 1 to {len(service.bays)}")
        if worker.machine.state is BayState.EMPTY:
            return _error(f"bay {number} is empty: dock a recorder first")
        if worker.waiting is not None:
            return _error(
                f"bay {number} waits for two staff to confirm its offload:"
                f" `dock offload confirm {number}`"
            )
        worker.recheck()
        return {"ok": True}
    change = _CHANGES.get(op) if isinstance(op, str) else None
    if change is None:
        return _error(f"unknown op {op!r}: use bays, recheck, {', '.join(_CHANGES)}")
    try:
        return change(service, request)
    except DockError as err:
        return _error(str(err))


def _actor(service: DockService, request: dict[str, Any]) -> Actor:
    """The person the request names, signed in with its password (a DockError if not)."""
    from dock.people.accounts import authenticate

    user, password = request.get("user"), request.get("password")
    if not isinstance(user, str) or not user or not isinstance(password, str):
        raise ControlError(t('this op needs a person: give "user" and "password"'))
    return authenticate(
        service.db, user, password, limits=service.settings.people, clock=service.clock
    )


def _worker(service: DockService, request: dict[str, Any]) -> BayWorker:
    number = request.get("bay")
    worker = service.bays.get(number) if isinstance(number, int) else None
    if worker is None:
        raise ControlError(
            t(
                "no bay {bay}: this dock has bays 1 to {count}",
                bay=repr(number),
                count=len(service.bays),
            )
        )
    return worker


def _offload_confirm(service: DockService, request: dict[str, Any]) -> dict[str, Any]:
    from dock.people.offload_confirmations import OFFLOAD_CONFIRMATIONS

    worker = _worker(service, request)
    names = worker.confirm_offload(_actor(service, request))
    return {"ok": True, "confirmed_by": names, "needed": OFFLOAD_CONFIRMATIONS}


def _reflash(service: DockService, request: dict[str, Any]) -> dict[str, Any]:
    """A technician's reflash of a docked recorder; the reply waits for its outcome."""
    from firmware_bridge.image import ImageError, read_image

    worker = _worker(service, request)
    technician = service.technicians.technician(worker.number)
    if "user" in request:
        technician = _actor(service, request)
    elif technician is None:
        raise ControlError(
            t("bay {bay} is not in technician mode: give --user, or `dock technician enter {bay}` first",
              bay=worker.number)
        )  # fmt: skip
    if request.get("force"):
        raise ControlError(
            t("a downgrade is not sent through the running dock: stop the service and run `dock reflash --force --approved-by NAME`")
        )  # fmt: skip
    path, staged = request.get("image"), request.get("image_sha256")
    if isinstance(staged, str):
        image = _staging(service).load(staged)
    elif not isinstance(path, str) or not path:
        raise ControlError(
            t('reflash needs "image" (the path of an image made by `make firmware`) or "image_sha256" (a staged image)')
        )  # fmt: skip
    else:
        try:
            image = read_image(Path(path))
        except (ImageError, OSError) as err:
            raise ControlError(
                t("{error}; give an image made by `make firmware`", error=err)
            ) from None
    ended = "reflash failed"  # a failed reflash ends the mode too: the next one signs in again
    try:
        outcome = worker.reflash(image, technician)
        ended = "reflash done"
    finally:
        service.technicians.leave(worker.number, ended, actor=technician.journal_name)
    return {
        "ok": True,
        "outcome": t("bay {bay}: {outcome}", bay=worker.number, outcome=outcome.summary()),
        "confirmed": outcome.is_confirmed,
    }


def _staging(service: DockService) -> Staging:
    from dock.reflash.staging import Staging, trusted_keys

    return Staging(service.settings.dock.data_dir, trusted_keys(service.settings))


def _firmware_stage(service: DockService, request: dict[str, Any]) -> dict[str, Any]:
    """A technician stages an image with the keys the running dock trusts."""
    path = request.get("image")
    if not isinstance(path, str) or not path:
        raise ControlError(t('firmware_stage needs "image": the path of a signed image'))
    staged = _staging(service).stage(
        Path(path), technician=_actor(service, request), db=service.db, clock=service.clock
    )
    return {"ok": True, "image": staged.line()}


def _firmware_list(service: DockService, request: dict[str, Any]) -> dict[str, Any]:
    """The staged images as the running dock's keys check them (a reading: no person)."""
    from dataclasses import asdict

    return {"ok": True, "images": [asdict(s) for s in _staging(service).images()]}


def _firmware_remove(service: DockService, request: dict[str, Any]) -> dict[str, Any]:
    staged = _staging(service).remove(
        str(request.get("image_sha256", "")),
        technician=_actor(service, request),
        db=service.db,
        clock=service.clock,
    )
    return {"ok": True, "image": staged.line()}


def _firmware_update_all(service: DockService, request: dict[str, Any]) -> dict[str, Any]:
    """Every docked recorder, one after another; the reply waits for the whole report."""
    from dock.reflash.batch import update_all

    model, version = request.get("model"), request.get("version")
    results = update_all(
        service,
        _staging(service),
        _actor(service, request),
        model=model if isinstance(model, str) and model else None,
        version=version if isinstance(version, str) and version else None,
    )
    return {"ok": True, "results": [r.as_dict() for r in results]}


def _technician_enter(service: DockService, request: dict[str, Any]) -> dict[str, Any]:
    worker = _worker(service, request)
    technician = _actor(service, request)
    service.technicians.enter(worker.number, technician)
    return {"ok": True, "technician": technician.username}


def _technician_leave(service: DockService, request: dict[str, Any]) -> dict[str, Any]:
    worker = _worker(service, request)
    if not service.technicians.leave(worker.number, "left on request"):
        raise ControlError(
            t("bay {bay} is not in technician mode: nothing to leave", bay=worker.number)
        )
    return {"ok": True}


_CHANGES: dict[str, Callable[[DockService, dict[str, Any]], dict[str, Any]]] = {
    "offload_confirm": _offload_confirm,
    "reflash": _reflash,
    "firmware_stage": _firmware_stage,
    "firmware_list": _firmware_list,
    "firmware_remove": _firmware_remove,
    "firmware_update_all": _firmware_update_all,
    "technician_enter": _technician_enter,
    "technician_leave": _technician_leave,
}


def _bay_view(service: DockService, number: int) -> dict[str, Any]:
    machine = service.bays[number].machine
    return {
        "number": number,
        "state": str(machine.state),
        "device": machine.device,
        "reason": machine.reason,
    }


def _error(text: str) -> dict[str, Any]:
    return {"ok": False, "error": text}


class ControlServer:
    """Serves the control socket on its own thread while the service runs."""

    def __init__(self, data_dir: Path, *, on_wake: Callable[[], None] | None = None) -> None:
        """Claims the socket at once: a second service must stop before it touches a bay.

        on_wake (tests) is told each time the server thread wakes."""
        self.path = socket_path(data_dir)
        self.on_wake = on_wake
        self._wake_r, self._wake_w = socket.socketpair()
        _claim(self.path)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others connect
        try:
            self._server = _Server(str(self.path), _Handler)
        except OSError as error:
            raise ControlError(
                f"cannot open the control socket {self.path}: {error.strerror or error}"
            ) from None
        finally:
            os.umask(old_umask)
        self._thread = threading.Thread(target=self._serve, name="control")

    def start(self, service: DockService) -> None:
        self._server.service = service
        self._thread.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}  # no timeout: sleeps
                if self.on_wake is not None:
                    self.on_wake()
                if self._wake_r in ready:
                    return
                self._server.handle_request()  # ready: accepts at once; a thread answers

    def stop(self) -> None:
        if self._thread.is_alive():
            self._wake_w.send(b"x")
            self._thread.join(5)
        self._server.server_close()
        self._wake_r.close()
        self._wake_w.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _claim(path: Path) -> None:
    """Remove a socket left by a dock that died; refuse if a live one still answers."""
    if len(os.fsencode(path)) >= 104:  # sun_path is 104-108 bytes depending on the system
        raise ControlError(
            f"the control socket path {path} is too long for a unix socket: "
            "choose a shorter dock.data_dir"
        )
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise ControlError(
            f"cannot create the data folder {path.parent}: {error.strerror or error}; "
            "set dock.data_dir to a writable folder"
        ) from None
    if not path.exists():
        return
    try:
        request(path.parent, {"op": "bays"}, timeout_s=1.0)
    except ServiceNotRunning:
        path.unlink()
        return
    except ControlError:
        pass
    raise ControlError(f"another dock service is already running here ({path}): stop it first")


# -- the CLI's side ---------------------------------------------------------------------------


def request(data_dir: Path, payload: dict[str, Any], *, timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one request to the running service; its reply, or ControlError in one line."""
    path = socket_path(data_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout_s)
        try:
            client.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ServiceNotRunning() from None
        except OSError as error:
            raise ControlError(
                f"cannot reach the dock service at {path}: {error.strerror or error}"
            ) from None
        try:
            client.sendall(json.dumps(payload).encode("utf-8") + b"\n")
            line = client.makefile("rb").readline(MAX_LINE_BYTES * 64)
        except TimeoutError:
            raise ControlError(f"the dock service did not answer within {timeout_s:g} s") from None
        except OSError as error:
            raise ControlError(f"the dock service hung up: {error.strerror or error}") from None
    try:
        reply = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ControlError("the dock service sent no answer: see its log") from None
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "the dock service refused the request")))
    return reply

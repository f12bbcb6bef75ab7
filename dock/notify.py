"""Telling systemd how the dock is: ready, its status line, and a watchdog ping while healthy.

The protocol is a few datagrams on the Unix socket named by $NOTIFY_SOCKET ("READY=1",
"STATUS=...", "WATCHDOG=1", "STOPPING=1"); a path starting with "@" is in the abstract
namespace. Text goes as UTF-8, whatever it holds (officer names, Chinese reasons): the
`sdnotify` package drops what Latin-1 cannot encode, which is why it is not used here.

The watchdog pings at half of $WATCHDOG_USEC, and only after the health check came back
empty: a bay thread stuck on one step, a dead journal reader or an unwritable store stops
the pings, and systemd restarts the dock (Restart=on-failure) instead of it hanging on.
Without $NOTIFY_SOCKET (not under systemd, `make run`) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

HealthCheck = Callable[[], list[str]]  # the problems found now; empty means healthy


class Notifier:
    """Sends notify messages to one socket address (None: nowhere)."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._socket: socket.socket | None = None
        if address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        return cls(environ.get("NOTIFY_SOCKET") or None)

    def send(self, *fields: str) -> bool:
        """One datagram of "KEY=value" lines; False (logged) if systemd could not be told."""
        if self._socket is None or self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        message = "\n".join(field.replace("\n", " ") for field in fields)
        try:
            self._socket.sendto(message.encode("utf-8"), target)
        except OSError as err:
            log.warning("cannot notify systemd at %s: %s", self.address, err.strerror or err)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def stopping(self, status: str = "stopping: each bay finishes its step") -> bool:
        return self.send("STOPPING=1", f"STATUS={status}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval_s(environ: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between pings (half of WatchdogSec), or None when no watchdog is set for us."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (a parent that exec'd us would have said)
    return int(usec) / 1_000_000 / 2


class Watchdog:
    """Pings systemd every `interval_s` while `health` finds no problem.

    Each `beat` runs the check once: healthy sends WATCHDOG=1 (and the status line again
    after a problem cleared); a problem sends only a STATUS naming it, so systemd's timer
    runs out and it restarts the dock while `systemctl status` says why."""

    def __init__(self, notifier: Notifier, health: HealthCheck, interval_s: float) -> None:
        self.notifier = notifier
        self.health = health
        self.interval_s = interval_s
        self.healthy_status = "serving"
        self._problems: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> bool:
        """One check and what it says to systemd; True if it pinged."""
        try:
            problems = self.health()
        except Exception as err:  # a check that fails is itself a reason not to ping
            log.exception("the health check failed (a dock bug)")
            problems = [f"health check failed: {type(err).__name__}"]
        if problems:
            if problems != self._problems:
                log.error("unhealthy, not pinging the watchdog: %s", "; ".join(problems))
            self._problems = problems
            self.notifier.status("unhealthy: " + "; ".join(problems))
            return False
        if self._problems:
            self._problems = []
            return self.notifier.send("WATCHDOG=1", f"STATUS={self.healthy_status}")
        return self.notifier.send("WATCHDOG=1")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def threads_alive(names: list[str]) -> HealthCheck:
    """Each named thread (a journal reader's) still running; those not started are skipped."""
    expected = {t.name for t in threading.enumerate()} & set(names)

    def check() -> list[str]:
        running = {t.name for t in threading.enumerate() if t.is_alive()}
        return [f"thread {name} has ended" for name in sorted(expected - running)]

    return check


def writable_directory(path: os.PathLike[str] | str, what: str) -> HealthCheck:
    def check() -> list[str]:
        if os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK):
            return []
        return [f"{what} {os.fspath(path)} is not a writable folder"]

    return check


def all_of(*checks: HealthCheck) -> HealthCheck:
    return lambda: [problem for check in checks for problem in check()]

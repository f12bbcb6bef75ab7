"""`make run`'s program (python -m dock.localrun, what the Makefile target runs) in a real
pseudo-terminal: the screen shows the eight bays, the registry answers, its dashboard shows
every bay of the dock, and Ctrl-C stops everything it started: no process, no port left.

Every read of the pty goes through select() with a deadline, and the pty is drained all the
time (a child whose terminal fills up blocks), so a hung demo fails the test, never CI.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import httpx
import psutil

from dock.localrun.servers import is_port_free

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]")
BAYS = 8
UP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 45.0


class Terminal:
    """The demo on a pty: everything it wrote so far, read with deadlines only."""

    def __init__(self, run_dir: Path) -> None:
        import fcntl

        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the demo, as `make run` starts it, in a 180 x 50 terminal
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 180, 0, 0))
            os.environ.update(COLUMNS="180", LINES="50")  # over any the test runner set
            os.chdir(ROOT)
            os.execv(sys.executable, [sys.executable, "-m", "dock.localrun", "--dir", str(run_dir)])
        self.output = b""
        self.is_closed = False

    def drain(self, wait_s: float) -> None:
        """Read whatever comes within wait_s."""
        deadline = time.monotonic() + wait_s
        while not self.is_closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: the child side is closed
                data = b""
            if not data:
                self.is_closed = True
                return
            self.output += data

    def text(self) -> str:
        return ANSI.sub(b"", self.output).decode("utf-8", "replace")

    def until(self, what: str, condition, timeout_s: float):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = condition()
            if found:
                return found
            if self.is_closed:
                raise AssertionError(f"the demo ended before {what}:\n{self.text()[-3000:]}")
            self.drain(0.5)
        raise AssertionError(f"timed out waiting for {what}:\n{self.text()[-3000:]}")

    def exit_status(self, timeout_s: float) -> int | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            self.drain(0.2)
        return None


def _bays_on_screen(text: str) -> bool:
    """The last frame drawn holds a row for each bay, with its light."""
    frame = text[text.rfind("body-camera dock") :]
    return all(re.search(rf"bay {n}\s*│ ●", frame) for n in range(1, BAYS + 1))


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=3)
    except httpx.HTTPError:
        return None


def _dashboard_bays(url: str) -> set[int]:
    page = _get(f"{url}?lang=en")
    if page is None or page.status_code != 200:
        return set()
    rows = re.findall(r'<tr class="bay"><td>dock-demo</td><td>(\d+)</td>', page.text)
    return {int(n) for n in rows}


def test_make_run_shows_the_bays_and_the_registry_and_ctrl_c_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    terminal = Terminal(tmp_path / "run")
    started: list[psutil.Process] = []
    try:
        dashboard = terminal.until(
            "the dashboard URL",
            lambda: re.search(r"dashboard:? (http://127\.0\.0\.1:\d+/)", terminal.text()),
            UP_TIMEOUT_S,
        )[1]
        terminal.until("the 8 bays on the screen", lambda: _bays_on_screen(terminal.text()), 60)
        page = _get(dashboard)
        assert page is not None and page.status_code == 200 and "<html" in page.text.lower()
        assert terminal.until(
            "every bay on the dashboard",
            lambda: _dashboard_bays(dashboard) == set(range(1, BAYS + 1)),
            60,
        )
        # The journal's rows reach the registry, and the screen says how many it holds.
        terminal.until(
            "the registry holding the dock's rows, on the screen",
            lambda: re.search(r"registry holds [1-9]", terminal.text()),
            60,
        )
        # The technician's reflash of bay 7, through the running dock, to its test boot.
        terminal.until(
            "bay 7's reflash confirmed, on the screen",
            lambda: re.search(r"bay 7 SIM00007: firmware 1\.1\.0 confirmed", terminal.text()),
            90,
        )
        text = terminal.text()
        broker_port = int(re.findall(r"mqtt://127\.0\.0\.1:(\d+)", text)[0])
        store_port = int(re.findall(r"store:? +http://127\.0\.0\.1:(\d+)", text)[0])
        registry_port = int(dashboard.rsplit(":", 1)[1].strip("/"))
        pages = re.findall(r"custodians' pages (http://127\.0\.0\.1:(\d+)/)", text)[0]
        sign_in = _get(pages[0] + "login")
        assert sign_in is not None and sign_in.status_code == 200 and "password" in sign_in.text
        ports = [broker_port, store_port, registry_port, int(pages[1])]
        assert not any(is_port_free(p) for p in ports)  # the servers listen while it runs
        started = psutil.Process(terminal.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in started)
        assert "mosquitto" in names and "weed" in names and "dock-registry" in names

        os.write(terminal.fd, b"\x03")  # Ctrl-C at the terminal
        code = terminal.exit_status(STOP_TIMEOUT_S)
        assert code == 0, terminal.text()[-3000:]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(terminal.pid, 0)
            raise AssertionError("the demo's process group is still there")
        alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [p.cmdline() for p in alive]
        assert all(is_port_free(p) for p in ports), ports
        assert "all stopped" in terminal.text()
        assert "Traceback" not in terminal.text()
    finally:
        for pid in [terminal.pid, *(p.pid for p in started)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(terminal.pid, os.WNOHANG)
        os.close(terminal.fd)

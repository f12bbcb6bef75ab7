"""`dock serve --simulate N` as a child process: start it, wait for its verdicts, stop it.

For the benchmarks (peak memory of a whole dock process) and the tests that must see the
real process end on SIGTERM. It reads the lines `dock serve` prints for people
("bay 2 SIM00002: NOT READY: ..."), so what the tests check is what a person sees.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

# The verdict word as the dock says it in Chinese (the default language) or English.
SAID_WORDS = {"就绪": "READY", "未就绪": "NOT READY", "故障": "FAULT", "需人工处理": "ATTENTION"}
VERDICT_LINE = re.compile(
    r"^bay (\d+) (\S+): (READY|NOT READY|FAULT|ATTENTION|未就绪|就绪|故障|需人工处理)\b:?\s*(.*)$"
)


class SimulatedDockProcess:
    def __init__(self, config_path: Path, count: int) -> None:
        """count=0: plain `dock serve`, for bays bound in the config ([bays.fixed.N])."""
        self.command = [sys.executable, "-m", "dock.cli", "--config", str(config_path), "serve"]
        if count:
            self.command += ["--simulate", str(count)]
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.process: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []

    def start(self) -> SimulatedDockProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._follow(self.process.stdout, self.stdout_lines, self._lines)
        self._follow(self.process.stderr, self.stderr_lines, None)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_for_verdicts(self, count: int, timeout_s: float) -> dict[int, tuple[str, str]]:
        """{bay: (word, reasons)} for the first `count` verdict lines; TimeoutError otherwise."""
        verdicts: dict[int, tuple[str, str]] = {}
        deadline = time.monotonic() + timeout_s
        while len(verdicts) < count:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(self._story(f"{len(verdicts)} of {count} verdicts")) from None
            if line is None:
                raise RuntimeError(self._story("dock serve ended before its verdicts"))
            match = VERDICT_LINE.match(line)
            if match:
                verdicts[int(match[1])] = (SAID_WORDS.get(match[3], match[3]), match[4])
        return verdicts

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM, then the exit status (a hang past timeout_s is killed and raises)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise TimeoutError(self._story("dock serve did not stop on SIGTERM")) from None
        finally:
            self._readers_done()

    def __enter__(self) -> SimulatedDockProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
            self._readers_done()

    def _follow(self, stream: IO[str], lines: list[str], out: queue.Queue | None) -> None:
        def read() -> None:
            for raw in stream:
                line = raw.rstrip("\n")
                lines.append(line)
                if out is not None:
                    out.put(line)
            if out is not None:
                out.put(None)

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        self._readers.append(thread)

    def _readers_done(self) -> None:
        for thread in self._readers:
            thread.join(5)

    def _story(self, what: str) -> str:
        tail = "\n".join((self.stdout_lines + self.stderr_lines)[-20:])
        return f"{what}; last output:\n{tail}"

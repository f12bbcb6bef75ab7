"""An idle dock sleeps: its hot-plug loop and its control socket wake only for work.

Counted, not timed: every wake of either loop is counted through its `on_wake` hook. Idle,
the count stays 0 however long we watch (a 10 Hz loop would have woken ~10 times here);
one hot-plug event and one request wake each loop exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from dock import control
from dock.clock import SystemClock
from dock.service import DockService
from hw.clock_sync import FakeClockSync

WATCH_S = 1.0
WAIT_S = 10


def wait_for(condition) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the loop never woke"
        time.sleep(0.01)


def test_an_idle_dock_does_not_wake_until_a_recorder_or_a_request_comes(dock):
    wakes: Counter[str] = Counter()
    service = DockService(
        dock.settings,
        dock.db,
        dock.hotplug,
        clock=SystemClock(),
        clock_sync=FakeClockSync(True),
        on_wake=lambda: wakes.update(["hotplug"]),
    )
    server = control.ControlServer(
        dock.settings.dock.data_dir, on_wake=lambda: wakes.update(["control"])
    )
    server.start(service)
    stop = threading.Event()
    runner = threading.Thread(target=service.run, args=(stop,))
    runner.start()
    try:
        time.sleep(WATCH_S)
        assert wakes == Counter()
        assert control.request(dock.settings.dock.data_dir, {"op": "bays"})["ok"]
        dock.hotplug.detach("9-9.9")  # a port in no bay: logged, nothing else to do
        wait_for(lambda: wakes == Counter(hotplug=1, control=1))
        time.sleep(WATCH_S)
        assert wakes == Counter(hotplug=1, control=1)
    finally:
        stop.set()
        runner.join(WAIT_S)
        server.stop()
    assert not runner.is_alive()
    assert wakes["hotplug"] == 2  # the stop itself wakes it once

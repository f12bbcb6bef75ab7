"""systemd hears the dock on a real Unix datagram socket: READY with a UTF-8 status, watchdog
pings only while every bay, journal reader and the store are well, STOPPING at the stop.

The "systemd" here is a socket bound in tmp_path, read exactly as PID 1 reads $NOTIFY_SOCKET.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import replace

import pytest

from dock.notify import Notifier, Watchdog, all_of, watchdog_interval_s, writable_directory
from dock.simulated_process import SimulatedDockProcess

WAIT_S = 60


@pytest.fixture
def systemd(tmp_path):
    """The receiving end of $NOTIFY_SOCKET: a bound datagram socket."""
    path = str(tmp_path / "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(WAIT_S)
    yield path, listener
    listener.close()


def received(listener: socket.socket) -> list[str]:
    """The next datagram's KEY=value lines."""
    return listener.recv(65536).decode("utf-8").split("\n")


def pending(listener: socket.socket) -> list[list[str]]:
    """Every datagram already waiting, without waiting for more."""
    found = []
    listener.setblocking(False)
    try:
        while True:
            found.append(listener.recv(65536).decode("utf-8").split("\n"))
    except BlockingIOError:
        return found
    finally:
        listener.settimeout(WAIT_S)


def test_ready_carries_a_status_that_latin1_cannot_encode_as_utf8(systemd):
    path, listener = systemd
    notifier = Notifier(path)
    assert notifier.ready("8 个仓位在服务; bay 2: 电量不足")
    assert received(listener) == ["READY=1", "STATUS=8 个仓位在服务; bay 2: 电量不足"]
    notifier.close()


def test_an_abstract_notify_socket_is_reached_by_its_at_sign_name():
    name = f"bodycam-dock-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    listener.settimeout(WAIT_S)
    try:
        assert Notifier.from_environment({"NOTIFY_SOCKET": "@" + name}).stopping("bye")
        assert received(listener) == ["STOPPING=1", "STATUS=bye"]
    finally:
        listener.close()


def test_without_notify_socket_nothing_is_sent_and_nothing_fails():
    assert Notifier.from_environment({}).ready("serving") is False


def test_the_watchdog_pings_at_half_of_watchdog_usec_and_only_for_this_process():
    mine = str(os.getpid())
    assert watchdog_interval_s({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": mine}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "60000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None


def test_a_store_that_is_gone_stops_the_pings_and_its_return_resumes_them(systemd, tmp_path):
    path, listener = systemd
    store = tmp_path / "store"
    store.mkdir()
    watchdog = Watchdog(Notifier(path), writable_directory(store, "the evidence store"), 30)
    watchdog.healthy_status = "serving 8 bays"
    assert watchdog.beat()
    assert received(listener) == ["WATCHDOG=1"]
    store.rmdir()
    assert not watchdog.beat()
    assert received(listener) == [
        f"STATUS=unhealthy: the evidence store {store} is not a writable folder"
    ]
    store.mkdir()
    assert watchdog.beat()
    assert received(listener) == ["WATCHDOG=1", "STATUS=serving 8 bays"]


def test_a_health_check_that_raises_is_unhealthy_not_a_dead_watchdog(systemd):
    path, listener = systemd

    def broken() -> list[str]:
        raise RuntimeError("bug")

    watchdog = Watchdog(Notifier(path), all_of(lambda: [], broken), 30)
    assert not watchdog.beat()
    assert received(listener) == ["STATUS=unhealthy: health check failed: RuntimeError"]


def test_a_bay_stuck_on_a_silent_recorder_stops_the_pings_until_it_leaves(systemd, dock):
    path, listener = systemd
    # A recorder that never answers, and a link that waits for it 5 s, ten times over.
    link = replace(dock.settings.link, timeout_s=5.0, retries=10)
    dock.settings = replace(dock.settings, link=link)
    controller, silent = os.openpty()
    dock.start()
    assert dock.service is not None
    watchdog = Watchdog(Notifier(path), dock.service.health, 30)
    try:
        assert watchdog.beat() and received(listener) == ["WATCHDOG=1"]
        dock.service.stuck_after_s = 0.0  # any step in hand counts as stuck from now
        dock.hotplug.attach("1-1.2", os.ttyname(silent))
        deadline = time.monotonic() + WAIT_S
        while dock.service.bays[2].busy_since is None:
            assert time.monotonic() < deadline, "bay 2 never took the recorder"
            time.sleep(0.01)
        assert not watchdog.beat()
        (status,) = received(listener)
        assert status.startswith("STATUS=unhealthy: bay 2: stuck for ")
        assert dock.service.health() == [status.removeprefix("STATUS=unhealthy: ")]
        dock.hotplug.detach("1-1.2")  # breaks the conversation: the bay is free again
        while dock.service.bays[2].busy_since is not None:
            assert time.monotonic() < deadline, "bay 2 stayed stuck after the recorder left"
            time.sleep(0.01)
        assert dock.service.health() == []
        assert watchdog.beat()
    finally:
        os.close(controller)
        os.close(silent)


def test_dock_serve_says_ready_pings_the_watchdog_and_says_stopping(systemd, tmp_path, monkeypatch):
    path, listener = systemd
    config = tmp_path / "dock.toml"
    config.write_text(f'[dock]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping every 0.1 s
    with SimulatedDockProcess(config, 2) as dock:
        ready = received(listener)
        assert ready[0] == "READY=1"
        assert ready[1].startswith("STATUS=serving 4 bays with 2 simulated recorders")
        assert received(listener) == ["WATCHDOG=1"]
        assert received(listener) == ["WATCHDOG=1"]
        assert dock.stop() == 0
    # STOPPING as the stop began; the pings may go on while the bays finish their steps.
    stopping = ["STOPPING=1", "STATUS=stopping: each bay finishes its step"]
    after = pending(listener)
    assert stopping in after
    assert {tuple(message) for message in after} <= {tuple(stopping), ("WATCHDOG=1",)}

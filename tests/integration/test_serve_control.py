"""The control socket of `dock serve`: private, bounded, and every refusal one line of JSON."""

from __future__ import annotations

import json
import socket
import stat

import pytest

from dock import control
from dock.config import parse_settings
from dock.main import build_service
from hw.clock_sync import FakeClockSync
from hw.hotplug import SimulatedHotplug


@pytest.fixture
def served(tmp_path):
    settings = parse_settings(
        {"dock": {"data_dir": str(tmp_path / "d")}, "bays": {"count": 2}},
        base_dir=tmp_path,
        source=None,
    )
    server = control.ControlServer(settings.dock.data_dir)
    service, db = build_service(settings, hotplug=SimulatedHotplug(), clock_sync=FakeClockSync())
    server.start(service)
    yield settings.dock.data_dir
    server.stop()
    db.close()


def raw(data_dir, data: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(str(control.socket_path(data_dir)))
        client.sendall(data)
        return json.loads(client.makefile("rb").readline())


def test_control_socket_is_private_to_the_service_user(served):
    mode = control.socket_path(served).stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_bays_request_returns_the_live_state_of_every_bay(served):
    reply = control.request(served, {"op": "bays"})
    assert reply["bays"] == [
        {"number": 1, "state": "empty", "device": None, "reason": ""},
        {"number": 2, "state": "empty", "device": None, "reason": ""},
    ]


def test_recheck_of_an_empty_bay_is_refused_in_one_line(served):
    with pytest.raises(control.ControlError, match="^bay 2 is empty: dock a recorder first$"):
        control.request(served, {"op": "recheck", "bay": 2})


@pytest.mark.parametrize(
    "line, error",
    [
        (b"not json\n", "request is not one line of JSON"),
        (b"[1, 2]\n", "request must be a JSON object"),
        (b'{"op": "format_disk"}\n', "unknown op 'format_disk'"),
        (b'{"op": "recheck", "bay": "1"}\n', "no bay '1'"),
        (b'{"op": "bays"' + b" " * control.MAX_LINE_BYTES + b"}\n", "request longer than"),
    ],
)
def test_bad_requests_get_a_one_line_error_and_the_server_keeps_serving(served, line, error):
    reply = raw(served, line)
    assert reply["ok"] is False and reply["error"].startswith(error)
    assert "\n" not in reply["error"]
    assert control.request(served, {"op": "bays"})["ok"] is True


def test_a_stale_socket_from_a_dead_service_is_replaced(tmp_path):
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    path = control.socket_path(data_dir)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays and nobody listens: what a killed service leaves behind
    with pytest.raises(control.ServiceNotRunning):
        control.request(data_dir, {"op": "bays"})
    server = control.ControlServer(data_dir)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(path))  # refused on the stale file; accepted now
    finally:
        server.stop()
    assert not path.exists()

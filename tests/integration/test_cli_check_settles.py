"""`dock check` on a bay that settles without a verdict returns at once with the bay's reason.

A recorder speaking another protocol version is never checked: its bay goes to attention
("reflash it") and no check.completed row will follow. Waiting for one would keep the
custodian at the prompt for the whole --wait-s.
"""

from __future__ import annotations

import time

from typer.testing import CliRunner

from dock.cli import app
from dock.control import ControlServer
from firmware_bridge import messages
from firmware_bridge.sim import Faults

WAIT_S = 60


def test_dock_check_on_a_recorder_speaking_another_protocol_ends_as_soon_as_the_bay_settles(
    dock, tmp_path
):
    old = messages.PROTOCOL_VERSION - 1
    recorder = dock.recorder("ZFY10001", pair=False, faults=Faults(protocol_version=old))
    dock.start()
    dock.plug(recorder, 1)
    dock.next_result()
    server = ControlServer(dock.settings.dock.data_dir)
    server.start(dock.service)
    config = tmp_path / "cli.toml"
    config.write_text(f'[dock]\ndata_dir = "{dock.settings.dock.data_dir}"\n', encoding="utf-8")
    try:
        started = time.monotonic()
        result = CliRunner().invoke(
            app, ["--config", str(config), "check", "1", "--wait-s", str(WAIT_S)]
        )
        elapsed_s = time.monotonic() - started
    finally:
        server.stop()
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "NOT READY"
    assert "reflash" in lines[1] and "ZFY10001" in lines[1]
    assert elapsed_s < WAIT_S / 4


def test_dock_offload_draws_no_bar_when_the_service_refuses_the_request(dock, tmp_path):
    dock.start()
    server = ControlServer(dock.settings.dock.data_dir)
    server.start(dock.service)
    config = tmp_path / "cli.toml"
    config.write_text(f'[dock]\ndata_dir = "{dock.settings.dock.data_dir}"\n', encoding="utf-8")
    try:
        result = CliRunner().invoke(app, ["--config", str(config), "offload", "2"])
    finally:
        server.stop()
    assert result.exit_code == 1
    assert result.stderr == "error: bay 2 is empty: dock a recorder first\n"

"""`dock device pair SERIAL --port PATH` over a real pty to the simulated recorder."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dock import ledger
from dock.cli import app
from dock.db.database import open_database
from firmware_bridge.sim import DirectoryStorage, SimRecorder, generate_clips

runner = CliRunner()


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "dock.toml"
    path.write_text('[dock]\ndata_dir = "data"\n[link]\ntimeout_s = 0.3\n', encoding="utf-8")
    return path


def dock(config, *args):
    return runner.invoke(app, ["--config", str(config), *args], env={"COLUMNS": "200"})


@pytest.fixture
def recorder(tmp_path):
    clips, events = generate_clips(2, size_bytes=1024, seed=1)
    storage = DirectoryStorage.create(tmp_path / "card", "ZFY30001", clips)
    with SimRecorder(storage, serial="ZFY30001", clips=clips, events=events) as sim:
        yield sim


def ledger_key(config, serial):
    db = open_database(config.parent / "data")
    try:
        with db.transaction() as session:
            device = ledger.get_device(session, serial)
            return device.pairing_key, device.is_paired
    finally:
        db.close()


def test_pairing_an_assigned_recorder_writes_its_key_and_its_officer(config, recorder):
    assert dock(config, "officer", "add", "310115", "--name", "李明").exit_code == 0
    assert dock(config, "device", "register", "ZFY30001").exit_code == 0
    assert dock(config, "device", "assign", "ZFY30001", "310115").exit_code == 0
    result = dock(config, "device", "pair", "ZFY30001", "--port", recorder.port)
    assert result.exit_code == 0, result.output
    assert "identity written: 310115 李明" in result.stdout
    key, is_paired = ledger_key(config, "ZFY30001")
    assert is_paired and recorder.board.key == key
    assert recorder.board.identity["officer_number"] == "310115"
    assert recorder.board.identity["officer_name"] == "李明"


def test_pairing_twice_keeps_the_key_and_succeeds(config, recorder):
    assert dock(config, "device", "register", "ZFY30001").exit_code == 0
    first = dock(config, "device", "pair", "ZFY30001", "--port", recorder.port)
    assert first.exit_code == 0, first.output
    assert "assign it to an officer" in first.stdout
    key, _ = ledger_key(config, "ZFY30001")
    second = dock(config, "device", "pair", "ZFY30001", "--port", recorder.port)
    assert second.exit_code == 0, second.output
    assert recorder.board.key == key


def test_pairing_names_the_recorder_found_when_the_serial_is_another(config, recorder):
    assert dock(config, "device", "register", "ZFY39999").exit_code == 0
    result = dock(config, "device", "pair", "ZFY39999", "--port", recorder.port)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the recorder on this port is ZFY30001, not ZFY39999: check the port or the serial\n"
    )
    assert recorder.board.key is None


def test_pairing_an_unregistered_serial_is_refused_in_one_line(config, recorder):
    result = dock(config, "device", "pair", "ZFY30001", "--port", recorder.port)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "ZFY30001" in result.stderr
    assert recorder.board.key is None


def test_pairing_on_a_port_that_does_not_exist_is_one_line(config, tmp_path):
    assert dock(config, "device", "register", "ZFY30001").exit_code == 0
    missing = str(tmp_path / "ttyACM9")
    result = dock(config, "device", "pair", "ZFY30001", "--port", missing)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: recorder on {missing}: ")
    assert result.stderr.count("\n") == 1

"""`dock bays` and `dock check BAY` against a running `dock serve --simulate 3` process.

Bay 1 holds a fit recorder, bay 2 one low on battery, bay 3 one whose clock was 2 h off
(corrected at docking), bay 4 nothing. One service serves the whole module: starting it
is the slow part, and `dock check` leaves each bay as it found it.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dock.cli import app
from dock.simulated_process import SimulatedDockProcess

runner = CliRunner()
WAIT_S = 30


def write_config(folder):
    path = folder / "dock.toml"
    path.write_text('[dock]\ndata_dir = "data"\n[link]\ntimeout_s = 0.5\n', encoding="utf-8")
    return path


def dock(config, *args):
    return runner.invoke(app, ["--config", str(config), *args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    config = write_config(tmp_path_factory.mktemp("dock"))
    with SimulatedDockProcess(config, 3) as process:
        process.wait_for_verdicts(3, WAIT_S)
        yield config
        assert process.stop() == 0


def test_dock_bays_lists_each_bay_with_its_state_device_and_reason(running):
    result = dock(running, "bays")
    assert result.exit_code == 0, result.output
    rows = {
        line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:5]]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    }
    assert rows["1"] == ["ready", "SIM00001", ""]
    assert rows["2"][:2] == ["attention", "SIM00002"] and "battery 12%" in rows["2"][2]
    assert rows["3"] == ["ready", "SIM00003", ""]
    assert rows["4"] == ["empty", "", ""]


def test_dock_check_on_a_fit_recorder_prints_ready_and_exits_0(running):
    result = dock(running, "check", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout == "READY\n"


def test_dock_check_on_a_low_battery_recorder_prints_every_reason_and_exits_1(running):
    result = dock(running, "check", "2")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "NOT READY"
    assert len(lines) == 2 and lines[1].startswith("  - battery 12%, needs at least 80%")


def test_dock_check_really_asks_the_recorder_again(running):
    before = dock(running, "journal", "--limit", "200").stdout.count("check.completed")
    assert dock(running, "check", "3").exit_code == 0
    after = dock(running, "journal", "--limit", "200").stdout.count("check.completed")
    assert after == before + 1


def test_dock_check_on_an_empty_bay_says_so_in_one_line(running):
    result = dock(running, "check", "4")
    assert result.exit_code == 1
    assert result.stderr == "error: bay 4 is empty: dock a recorder first\n"


def test_dock_check_on_a_bay_the_dock_does_not_have_says_which_it_has(running):
    result = dock(running, "check", "9")
    assert result.exit_code == 1
    assert result.stderr == "error: no bay 9: this dock has bays 1 to 4\n"


def test_dock_check_without_the_service_says_it_is_not_running_and_exits_1(tmp_path):
    result = dock(write_config(tmp_path), "check", "1")
    assert result.exit_code == 1
    assert result.stderr == ("error: the dock service is not running: start it with `dock serve`\n")


def test_dock_bays_works_without_the_service_listing_configured_bays_empty(tmp_path):
    result = dock(write_config(tmp_path), "bays")
    assert result.exit_code == 0, result.output
    states = [line.split("│")[2].strip() for line in result.stdout.splitlines() if "│" in line]
    assert states == ["empty"] * 4

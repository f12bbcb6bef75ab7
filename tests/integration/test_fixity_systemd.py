"""The daily fixity timer: its units are valid for systemd, run the command the CLI really
has, as the dock's own user inside the dock's own sandbox."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dock.cli import app

UNITS = Path(__file__).resolve().parents[2] / "systemd"
SERVICE, TIMER = "dock-store-verify.service", "dock-store-verify.timer"
INSTALLED_VENV = "/opt/bodycam-dock/.venv/bin/"


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values (systemd keys may repeat, so not configparser)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{name}: not key=value: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_units_pass_systemd_analyze_verify_with_no_warning(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed; the parser checks below still run")
    here = Path(sys.executable).parent / "dock"
    for name in (SERVICE, TIMER):  # the installed path swapped for this checkout's script
        text = (UNITS / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(INSTALLED_VENV + "dock", str(here)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / SERVICE), str(tmp_path / TIMER)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert str(tmp_path) not in done.stderr, done.stderr  # e.g. "Unknown key ..., ignoring"


def test_the_timer_runs_the_service_daily_catching_up_missed_runs_at_a_random_delay():
    timer = unit(TIMER)["Timer"]
    assert timer["OnCalendar"] == ["daily"]
    assert timer["Persistent"] == ["true"]
    assert timer["RandomizedDelaySec"] and timer["RandomizedDelaySec"][0] not in ("", "0")
    assert timer["Unit"] == [SERVICE]
    assert unit(TIMER)["Install"]["WantedBy"] == ["timers.target"]


def test_the_service_runs_store_verify_as_the_dock_user_in_the_docks_sandbox(tmp_path):
    verify, dock = unit(SERVICE)["Service"], unit("bodycam-dock.service")["Service"]
    assert verify["Type"] == ["oneshot"]
    for key in ("User", "Group", "Environment", "StateDirectory", "ProtectSystem"):
        assert set(dock[key]) <= set(verify[key]) | {"MALLOC_ARENA_MAX=2"}, key
    for key in ("ProtectHome", "NoNewPrivileges"):
        assert verify[key] == dock[key], key
    argv = shlex.split(verify["ExecStart"][0])
    assert argv[0] == shlex.split(dock["ExecStart"][0])[0]  # the same installed `dock`
    assert argv[0] == INSTALLED_VENV + "dock"
    # The arguments are a command the CLI has: it runs (and finds no store here), no usage error.
    config = tmp_path / "dock.toml"
    config.write_text(f'[dock]\ndata_dir = "{tmp_path / "none"}"\n', encoding="utf-8")
    ran = CliRunner().invoke(app, ["--config", str(config), *argv[1:]])
    assert ran.exit_code == 1 and "no evidence store at" in ran.output, ran.output

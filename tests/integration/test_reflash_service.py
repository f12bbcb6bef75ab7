"""`dock reflash` while `dock serve` holds the bays: the running dock's bay thread reflashes
the docked recorder over its own link, then identifies and checks it again; a technician's
password is checked by the command layer, and nobody else may ask."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from dock.cli import app
from dock.clock import FixedClock
from dock.db import open_database
from dock.db.models import JournalRow
from dock.simulated_process import SimulatedDockProcess
from firmware_bridge.image import DEV_KEY_PATH, build_image, load_private_key
from tests.integration.people_setup import PASSWORD, add_team

STAFF = {"admin": ["administrator"], "tom": ["technician"], "olga": ["officer"]}
CLOCK = FixedClock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
runner = CliRunner()


@pytest.fixture
def dock(tmp_path: Path):
    config = tmp_path / "dock.toml"
    config.write_text(f'[dock]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    db = open_database(tmp_path / "data")
    with db.transaction() as session:
        add_team(session, STAFF, CLOCK)
    db.close()
    (tmp_path / "password").write_text(PASSWORD + "\n", encoding="utf-8")
    image = tmp_path / "firmware-1.1.0.img"
    signed = build_image(
        bytes(i % 251 for i in range(60_000)),
        model="ZFY-SIM",
        version="1.1.0",
        min_version="0.1.0",
        key=load_private_key(DEV_KEY_PATH),
    )
    image.write_bytes(signed.to_bytes())
    with SimulatedDockProcess(config, 1) as served:
        served.wait_for_verdicts(1, timeout_s=90)
        yield config, image, tmp_path


def reflash(config: Path, image: Path, user: str):
    password = config.parent / "password"
    args = ["--config", str(config), "reflash", "1", str(image), "--user", user]
    return runner.invoke(app, [*args, "--password-file", str(password)])


def journal_types(data_dir: Path) -> list[str]:
    db = open_database(data_dir)
    try:
        with db.transaction() as session:
            return list(session.scalars(select(JournalRow.type).order_by(JournalRow.id)))
    finally:
        db.close()


def test_a_technician_reflashes_a_docked_recorder_through_the_running_dock(dock):
    config, image, tmp_path = dock
    result = reflash(config, image, "tom")
    assert result.exit_code == 0, result.output
    assert "SIM00001 1.0.0 -> 1.1.0：已确认，当前运行 1.1.0" in result.output
    # After the new firmware answers, the insertion goes on: identified and checked again.
    deadline = time.monotonic() + 60
    while True:
        types = journal_types(tmp_path / "data")
        started, finished = types.index("reflash.started"), types.index("reflash.finished")
        after = types[finished:]
        if "check.completed" in after or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert started < finished
    assert "recorder.identified" in after and "check.completed" in after


def test_an_officer_may_not_reflash_through_the_running_dock(dock):
    config, image, tmp_path = dock
    result = reflash(config, image, "olga")
    assert result.exit_code == 1
    assert "technician" in result.output
    assert "reflash.started" not in journal_types(tmp_path / "data")

"""`dock offload BAY` against a running `dock serve --simulate 2` that keeps clips on cards.

With the policy "never", the recorders keep their clips, so asking for an offload again
walks every clip and finds it already stored: the command must show that progress, end
with the verdict, and leave no duplicate behind.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dock.cli import app
from dock.db.database import open_database
from dock.db.models import Clip
from dock.simulated_process import SimulatedDockProcess

runner = CliRunner()
WAIT_S = 30


def dock(config, *args):
    return runner.invoke(app, ["--config", str(config), *args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dock")
    config = folder / "dock.toml"
    config.write_text(
        '[dock]\ndata_dir = "data"\n[offload]\ndelete_policy = "never"\nreserve_bytes = 0\n',
        encoding="utf-8",
    )
    with SimulatedDockProcess(config, 2) as process:
        process.wait_for_verdicts(2, WAIT_S)
        yield config, folder / "data"
        assert process.stop() == 0


def clip_count(data_dir) -> int:
    db = open_database(data_dir)
    try:
        with db.transaction() as session:
            return session.scalar(select(func.count(Clip.id)))
    finally:
        db.close()


def test_offload_again_walks_every_clip_finds_it_stored_and_ends_ready(running):
    config, data_dir = running
    before = clip_count(data_dir)
    assert before > 0
    result = dock(config, "offload", "1", "--wait-s", str(WAIT_S))
    assert result.exit_code == 0, result.output
    assert result.stdout == "READY\n"
    assert clip_count(data_dir) == before
    journal = dock(config, "journal", "--limit", "500").stdout
    assert journal.count("clip.already_stored") >= 1


def test_offload_of_a_not_ready_recorder_prints_why_and_exits_1(running):
    config, _ = running
    result = dock(config, "offload", "2", "--wait-s", str(WAIT_S))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "NOT READY"
    assert "battery 12%" in result.stdout

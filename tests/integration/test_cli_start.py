"""`dock` starts without what the command does not use, and migrates only an old schema.

Each command runs in a fresh interpreter (what a custodian's shell does), which then says
which heavy packages it loaded: SQLAlchemy and Alembic cost about a second on a Pi, pydantic
(through typer) more than `dock bays` does in all.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from dock import follow
from dock.cli import app
from dock.db.database import MIGRATIONS_DIR, make_engine, newest_revision, open_database
from dock.journal import JournalEntry

HEAVY = ("sqlalchemy", "alembic", "pydantic")
RUN_AND_REPORT = """
import json, sys
from dock.cli import app
heavy = set(json.loads(sys.argv[2]))
sys.argv = ["dock", *json.loads(sys.argv[1])]
try:
    app()
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy)))
"""


def loaded_by(config, *args):
    """Which of HEAVY a fresh `dock --config config ARGS` imported."""
    argv = ["--config", str(config), *args] if config else list(args)
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, json.dumps(argv), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "dock.toml"
    path.write_text('[dock]\ndata_dir = "data"\n', encoding="utf-8")
    return path


def test_dock_help_imports_neither_sqlalchemy_nor_alembic_nor_pydantic():
    assert loaded_by(None, "--help") == []


@pytest.mark.parametrize("args", [["bays"], ["journal"], ["check", "1"], ["clips"]])
def test_everyday_commands_on_a_current_schema_import_nothing_heavy(config, args):
    open_database(config.parent / "data").close()
    assert loaded_by(config, *args) == []


def test_dock_bays_on_a_dock_with_no_data_yet_imports_nothing_heavy_and_creates_nothing(config):
    assert loaded_by(config, "bays") == []
    assert not (config.parent / "data").exists()


def test_the_newest_revision_read_from_file_names_is_alembics_own_head():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert newest_revision() == ScriptDirectory.from_config(config).get_current_head()


def schema_at(data_dir, revision):
    data_dir.mkdir(parents=True)
    engine = make_engine(data_dir / "dock.sqlite3")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def stored_revision(data_dir):
    raw = sqlite3.connect(data_dir / "dock.sqlite3")
    try:
        return raw.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        raw.close()


def test_a_read_only_command_migrates_a_schema_older_than_the_code(config):
    data_dir = config.parent / "data"
    schema_at(data_dir, "0002")
    assert "alembic" in loaded_by(config, "journal")
    assert stored_revision(data_dir) == newest_revision()


def test_a_current_schema_is_not_migrated_again(config):
    data_dir = config.parent / "data"
    open_database(data_dir).close()
    assert "alembic" not in loaded_by(config, "audit", "verify")
    assert stored_revision(data_dir) == newest_revision()


def test_an_unaccepted_recorder_ends_dock_check_at_once_with_the_bays_reason():
    """A protocol mismatch leaves the bay in attention with no check: no verdict will come."""
    reason = "recorder speaks protocol 3, the dock 4: reflash it (serial ZFY1)"
    row = JournalEntry(
        7,
        datetime(2026, 12, 1, tzinfo=UTC),
        "bay.state_changed",
        "bay",
        2,
        "ZFY1",
        {"from_state": "identifying", "to_state": "attention", "trigger": "not_accepted"}
        | {"reason": reason},
        "0" * 64,
        "1" * 64,
    )
    assert follow.outcome_of(row) == ("NOT READY", [reason])


def test_dock_offload_without_the_service_prints_one_line_and_no_progress_bar(config):
    open_database(config.parent / "data").close()
    result = CliRunner().invoke(app, ["--config", str(config), "offload", "1"])
    assert result.exit_code == 1
    assert result.stderr == "error: the dock service is not running: start it with `dock serve`\n"


def test_a_parameter_out_of_range_is_still_refused_without_pydantic(config):
    result = CliRunner().invoke(app, ["--config", str(config), "journal", "--limit", "0"])
    assert result.exit_code == 2
    assert "below the minimum 1" in result.output

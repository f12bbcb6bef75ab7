"""`dock ...` on a temporary config and data folder: tables out, one-line errors, exit codes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dock.cli import app

runner = CliRunner()


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "dock.toml"
    path.write_text('[dock]\ndata_dir = "data"\n[check]\nmin_battery_pct = 55\n', encoding="utf-8")
    return path


def dock(config, *args):
    return runner.invoke(app, ["--config", str(config), *args], env={"COLUMNS": "200"})


def ok(config, *args):
    result = dock(config, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def register_and_assign(config):
    ok(config, "officer", "add", "310115", "--name", "李明", "--unit-name", "城管大队")
    ok(config, "device", "register", "RX-0042", "--model", "ZFY-X1", "--firmware", "1.4.2")
    ok(config, "device", "assign", "RX-0042", "310115")


def test_config_check_prints_the_effective_settings(config):
    out = ok(config, "config", "check")
    assert "check.min_battery_pct" in out and " 55 " in out
    assert str(config.parent / "data") in out
    assert out.strip().endswith(f"config OK: {config}")


def test_wrong_config_value_exits_1_with_one_line_naming_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[check]\nmin_battery_pct = 140\n", encoding="utf-8")
    result = dock(bad, "device", "list")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: config: check.min_battery_pct = 140: must be an integer from 0 to 100\n"
    )


def test_registered_and_assigned_recorder_is_listed_with_its_officer(config):
    register_and_assign(config)
    out = ok(config, "device", "list")
    row = next(line for line in out.splitlines() if "RX-0042" in line)
    assert "ZFY-X1" in row and "1.4.2" in row and "310115 李明" in row and "in service" in row


def test_device_show_gives_the_recorder_and_its_history(config):
    register_and_assign(config)
    out = ok(config, "device", "show", "RX-0042")
    assert "assigned to  310115 李明" in out
    assert "in the dock" in out
    assert "device.registered" in out and "device.assigned" in out


def test_repair_marks_the_recorder_and_done_brings_it_back(config):
    register_and_assign(config)
    ok(config, "device", "repair", "RX-0042", "--note", "cracked lens")
    assert "under repair" in ok(config, "device", "list")
    ok(config, "device", "repair", "RX-0042", "--done")
    assert "in service" in ok(config, "device", "list")
    ledger_out = ok(config, "ledger", "RX-0042")
    assert ledger_out.count("device.maintenance_changed") == 2


def test_unknown_recorder_exits_1_with_one_line(config):
    result = dock(config, "device", "assign", "RX-NOPE", "310115")
    assert result.exit_code == 1
    assert result.stderr == "error: recorder RX-NOPE is not registered: register it first\n"


def test_journal_shows_the_newest_rows(config):
    register_and_assign(config)
    out = ok(config, "journal", "--limit", "2")
    assert "device.registered" in out and "device.assigned" in out
    assert "officer.registered" not in out


def tamper(config, sql):
    """An attacker with the file: the trigger that refuses UPDATE dropped, a row edited."""
    raw = sqlite3.connect(config.parent / "data" / "dock.sqlite3", isolation_level=None)
    raw.execute("DROP TRIGGER IF EXISTS journal_refuses_update")
    raw.execute(sql)
    raw.close()


def test_full_audit_verify_finds_an_edit_before_the_last_checkpoint(config):
    register_and_assign(config)
    assert ok(config, "audit", "verify").startswith(
        "journal intact: 3 rows checked (rows 1-3, from the first row)"
    )
    tamper(config, "UPDATE journal SET actor = 'nobody' WHERE id = 2")
    # The daily verify starts after row 3, verified above: it checks nothing new ...
    assert ok(config, "audit", "verify").startswith("journal intact: 0 rows checked (nothing new")
    # ... the full one walks the whole chain and names the row.
    result = dock(config, "audit", "verify", "--full")
    assert result.exit_code == 1
    assert result.stderr == "journal broken: row 2: hash does not match its contents (edited)\n"


def test_incremental_audit_verify_finds_an_edit_after_the_last_checkpoint(config):
    register_and_assign(config)
    ok(config, "audit", "verify")  # checkpoint at row 3
    ok(config, "device", "register", "RX-0043")
    ok(config, "device", "register", "RX-0044")
    tamper(config, "UPDATE journal SET actor = 'nobody' WHERE id = 5")
    result = dock(config, "audit", "verify")
    assert result.exit_code == 1
    assert result.stderr == "journal broken: row 5: hash does not match its contents (edited)\n"


def test_incremental_audit_verify_says_how_many_rows_it_checked_and_from_where(config):
    register_and_assign(config)
    ok(config, "audit", "verify")
    ok(config, "device", "register", "RX-0043")
    out = ok(config, "audit", "verify")
    assert out.startswith("journal intact: 1 rows checked (rows 4-4, after row 3, verified ")


def test_incremental_audit_verify_refuses_a_checkpointed_row_that_changed(config):
    """Rewriting the chain from an old row on changes the checkpointed row's hash too."""
    register_and_assign(config)
    ok(config, "audit", "verify")
    tamper(config, "UPDATE journal SET hash = 'f' || substr(hash, 2) WHERE id = 3")
    result = dock(config, "audit", "verify")
    assert result.exit_code == 1
    assert result.stderr.startswith("journal broken: row 3: no longer what was verified on ")
    assert result.stderr.endswith("run `dock audit verify --full`\n")


def test_audit_verify_on_a_data_dir_that_does_not_exist_says_so_and_creates_nothing(tmp_path):
    config = tmp_path / "dock.toml"
    config.write_text('[dock]\ndata_dir = "nowhere"\n', encoding="utf-8")
    result = dock(config, "audit", "verify")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: the data folder {tmp_path / 'nowhere'} does not exist: "
        "check dock.data_dir (or --config)\n"
    )
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(
    "command", [["journal"], ["clips"], ["quarantine"], ["ledger"], ["device", "list"]]
)
def test_no_read_only_command_creates_a_data_dir(tmp_path, command):
    config = tmp_path / "dock.toml"
    config.write_text('[dock]\ndata_dir = "nowhere"\n', encoding="utf-8")
    result = dock(config, *command)
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_installed_dock_command_prints_a_config_error_without_traceback(tmp_path):
    script = Path(sys.executable).parent / "dock"
    if not script.exists():
        pytest.skip("the dock console script is not installed in this environment")
    bad = tmp_path / "bad.toml"
    bad.write_text('[offload]\ndelete_policy = "sometimes"\nextra = 1\n', encoding="utf-8")
    done = subprocess.run(
        [str(script), "--config", str(bad), "config", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("error: config: unknown key offload.extra: allowed here are ")
    assert "offload.delete_policy" in line


def test_the_readme_and_docs_send_readers_only_to_files_in_the_repository():
    import re

    root = Path(__file__).resolve().parents[2]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    assert root / "docs" / "RULES.md" in pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "../" not in text, f"{page.name} points outside the repository"
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name}: {target} is missing"
    assert "docs/RULES.md" in (root / "README.md").read_text(encoding="utf-8")

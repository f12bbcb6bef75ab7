"""`dock report key|status`: the key the registry enrols, and how far reporting got."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dock.cli import app
from dock.db.database import open_database
from dock.events import EventBus
from dock.report import signing
from dock.report.publisher import Publisher
from tests.integration.test_cli_start import loaded_by
from tests.integration.test_report_publisher import CLOCK, WAIT_S, _journal_rows, _settings
from tests.servers import mosquitto
from tests.servers.mosquitto import BrokerFactory

make_broker = mosquitto.make_broker


def _config(tmp_path: Path, port: int = 1) -> Path:
    path = tmp_path / "dock.toml"
    path.write_text(
        f'[dock]\ndata_dir = "data"\ndock_id = "dock-01"\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\n',
        encoding="utf-8",
    )
    return path


def test_report_key_makes_the_key_once_and_prints_the_same_public_key_serve_signs_with(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    first = CliRunner().invoke(app, ["--config", str(config), "report", "key"])
    again = CliRunner().invoke(app, ["--config", str(config), "report", "key"])
    assert first.exit_code == 0, first.output
    key = signing.load_or_create_key(tmp_path / "data")
    assert first.output.strip() == again.output.strip() == signing.public_key_hex(key)
    assert len(first.output.strip()) == 64
    assert (tmp_path / "data" / signing.KEY_NAME).stat().st_mode & 0o777 == 0o600


def test_report_status_shows_the_acknowledged_row_the_backlog_and_the_last_connect(
    tmp_path: Path, make_broker: BrokerFactory
) -> None:
    broker = make_broker()
    data = tmp_path / "data"
    data.mkdir()
    db = open_database(data, EventBus())
    publisher = Publisher(_settings(data, broker), db, CLOCK)
    publisher.start()
    try:
        _journal_rows(db, 5)
        assert publisher.wait_until_drained(WAIT_S)
    finally:
        publisher.stop()
    drained = publisher.cursor  # the 5 rows and the clean stop's checkpoint
    broker.stop()
    _journal_rows(db, 2)
    db.close()
    done = CliRunner().invoke(
        app, ["--config", str(_config(tmp_path, broker.port)), "report", "status"]
    )
    assert done.exit_code == 0, done.output
    assert f"acknowledged up to row {drained}; backlog 2 rows" in done.output
    assert f"journal size:    {drained + 2} rows" in done.output
    assert "last connect:    never" not in done.output


def test_report_commands_import_nothing_heavy(tmp_path: Path) -> None:
    config = _config(tmp_path)
    open_database(tmp_path / "data").close()
    assert loaded_by(config, "report", "status") == []
    assert loaded_by(config, "report", "key") == []

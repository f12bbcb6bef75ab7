"""The dock's broker credentials and TLS (a real Mosquitto): a bad file is one line before
anything is sent, a wrong password is logged once, retried, and loses nothing once fixed."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from dock.config import load_settings
from dock.db.database import open_database
from dock.errors import ConfigError
from dock.events import EventBus
from dock.report.publisher import Publisher
from dock.report.state import read_state
from tests.integration.test_report_publisher import (
    CLOCK,
    WAIT_S,
    Listener,
    P,
    _journal_rows,
    _settings,
)
from tests.servers import mosquitto
from tests.servers.mosquitto import BrokerFactory

make_broker = mosquitto.make_broker
ACL = "pattern write bodycam-dock/%u/#\n\nuser registry\ntopic read bodycam-dock/#\n"
USERS = {"dock-01": "right-one", "registry": "registry-pw"}


def test_mqtt_files_are_read_from_the_config_folder_and_a_missing_one_is_one_line(
    tmp_path: Path,
) -> None:
    config = tmp_path / "dock.toml"
    config.write_text(
        '[dock]\ndata_dir = "data"\n[mqtt]\nhost = "127.0.0.1"\nport = 1\n'
        'username = "dock-01"\npassword_file = "secret/pw"\ntls_ca_file = "tls/ca.pem"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.mqtt.password_file == str(tmp_path / "secret" / "pw")
    assert settings.mqtt.tls_ca_file == str(tmp_path / "tls" / "ca.pem")
    done = subprocess.run(
        [sys.executable, "-m", "dock.cli", "--config", str(config), "serve", "--simulate", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("error: config: mqtt.password_file")
    assert str(tmp_path / "secret" / "pw") in lines[0]


def test_an_unreadable_or_unusable_tls_file_is_a_config_error_naming_its_key(
    tmp_path: Path, make_broker: BrokerFactory
) -> None:
    broker = make_broker(start=False)
    db = open_database(tmp_path, EventBus())
    try:
        missing = _settings(tmp_path, broker, tls_ca_file=str(tmp_path / "nope.pem"))
        with pytest.raises(ConfigError, match=r"mqtt\.tls_ca_file"):
            Publisher(missing, db, CLOCK)
        (tmp_path / "junk.pem").write_text("not a certificate\n")
        junk = _settings(tmp_path, broker, tls_ca_file=str(tmp_path / "junk.pem"))
        with pytest.raises(ConfigError, match="not a usable certificate"):
            Publisher(junk, db, CLOCK)
        (tmp_path / "empty").write_text("\n")
        empty = _settings(
            tmp_path, broker, username="dock-01", password_file=str(tmp_path / "empty")
        )
        with pytest.raises(ConfigError, match="first line is empty"):
            Publisher(empty, db, CLOCK)
    finally:
        db.close()


def test_tls_and_a_password_carry_every_row_to_the_registry_user(
    tmp_path: Path, make_broker: BrokerFactory
) -> None:
    broker = make_broker(users=USERS, acl=ACL, tls=True)
    (tmp_path / "pw").write_text("right-one\n")
    db = open_database(tmp_path, EventBus())
    listener = Listener(broker, credentials=("registry", "registry-pw"))
    assert broker.ca_file is not None
    settings = _settings(
        tmp_path,
        broker,
        username="dock-01",
        password_file=str(tmp_path / "pw"),
        tls_ca_file=str(broker.ca_file),
    )
    publisher = Publisher(settings, db, CLOCK)
    publisher.start()
    try:
        _journal_rows(db, 10)
        assert publisher.wait_until_drained(WAIT_S)
        assert listener.wait_for(lambda: len(listener.rows) >= 10)
        assert listener.retained.get(f"{P}/dock-01/availability") == b"online"
    finally:
        publisher.stop()
        listener.close()
        db.close()
    assert [r["id"] for r in listener.rows][:10] == list(range(1, 11))
    assert publisher.refused is None


def test_a_wrong_password_is_logged_once_retried_and_loses_nothing_once_fixed(
    tmp_path: Path, make_broker: BrokerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    broker = make_broker(users=USERS, acl=ACL)
    password = tmp_path / "pw"
    password.write_text("wrong-one\n")
    db = open_database(tmp_path, EventBus())
    listener = Listener(broker, credentials=("registry", "registry-pw"))
    settings = _settings(
        tmp_path,
        broker,
        username="dock-01",
        password_file=str(password),
        reconnect_min_s=1,
        reconnect_max_s=1,
    )
    publisher = Publisher(settings, db, CLOCK)
    try:
        with caplog.at_level(logging.ERROR, logger="dock.report.publisher"):
            publisher.start()
            _journal_rows(db, 5)
            assert publisher.wait_until(lambda p: p.connect_refusals >= 2, WAIT_S)  # retried
            assert publisher.cursor == 0 and publisher.backlog() == 5
            password.write_text("right-one\n")
            assert publisher.wait_until_drained(WAIT_S)
        assert listener.wait_for(lambda: len(listener.rows) >= 5)
    finally:
        publisher.stop()
        listener.close()
        db.close()
    refusals = [
        r.getMessage() for r in caplog.records if "refused the connection" in r.getMessage()
    ]
    # One line, naming the reason code (Mosquitto answers a wrong password with 0x87).
    assert len(refusals) == 1 and "Not authorized (0x87)" in refusals[0]
    assert [r["id"] for r in listener.rows][:5] == [1, 2, 3, 4, 5]
    state = read_state(tmp_path)  # what `dock report status` shows
    assert state is not None and state.refusal is not None and "0x87" in state.refusal
    assert state.cursor == publisher.cursor

"""A dock that restarts, cleanly or by SIGKILL, resumes from its cursor: the registry gets
every row once, in order (a real Mosquitto; a real `dock serve` process for the kill)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from dock.db.database import open_database
from dock.db.models import JournalRow
from dock.events import EventBus
from dock.report.publisher import Publisher
from tests.integration.test_report_publisher import CLOCK, WAIT_S, Listener, P, _journal_rows
from tests.integration.test_report_publisher import _settings as settings_for
from tests.servers import mosquitto
from tests.servers.mosquitto import Broker, BrokerFactory

make_broker = mosquitto.make_broker
AVAILABILITY = f"{P}/dock-01/availability"


def _first_seen(ids: list[int]) -> list[int]:
    """The ids as the registry stores them: a row already held is dropped."""
    seen: set[int] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def test_a_new_publisher_on_the_same_data_resumes_from_its_cursor_with_every_row_once(
    tmp_path: Path, make_broker: BrokerFactory
) -> None:
    broker = make_broker()
    db = open_database(tmp_path, EventBus())
    listener = Listener(broker)
    first = Publisher(settings_for(tmp_path, broker), db, CLOCK)
    first.start()
    _journal_rows(db, 20)
    assert first.wait_until_drained(WAIT_S)
    first.stop()  # signs a checkpoint (row 21), drains it, saves the cursor
    _journal_rows(db, 10)  # rows 22-31 while no publisher runs
    second = Publisher(settings_for(tmp_path, broker), db, CLOCK)
    assert second.cursor == 21
    second.start()
    try:
        assert second.wait_until_drained(WAIT_S)
        assert listener.wait_for(lambda: len(listener.rows) >= 31)
    finally:
        second.stop()
        assert listener.wait_for(lambda: len(listener.rows) >= 32)
        listener.close()
        db.close()
    assert [r["id"] for r in listener.rows] == list(range(1, 33))  # exactly once, in order


def _serve(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "dock.cli", "--config", str(config), "serve", "--simulate", "1"],
        cwd=config.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _config(tmp_path: Path, broker: Broker) -> Path:
    config = tmp_path / "dock.toml"
    config.write_text(
        f'[dock]\ndata_dir = "data"\ndock_id = "dock-01"\n'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
        "reconnect_min_s = 1\nreconnect_max_s = 1\n",
        encoding="utf-8",
    )
    return config


def _last_id(data: Path) -> int:
    db = open_database(data)
    try:
        with db.transaction() as session:
            return int(session.execute(select(func.max(JournalRow.id))).scalar() or 0)
    finally:
        db.close()


def test_a_sigkilled_dock_shows_offline_by_its_last_will_and_resumes_with_every_row_once(
    tmp_path: Path, make_broker: BrokerFactory
) -> None:
    broker = make_broker()
    config, data = _config(tmp_path, broker), tmp_path / "data"
    listener = Listener(broker)
    dock = _serve(config)
    try:
        assert listener.wait_for(lambda: listener.retained.get(AVAILABILITY) == b"online")
        writer = open_database(data)  # another process writing, as a `dock` command does
        _journal_rows(writer, 200)
        assert listener.wait_for(lambda: len(listener.rows) >= 100)  # mid-stream
        os.killpg(dock.pid, signal.SIGKILL)
        dock.wait(10)
        assert listener.wait_for(lambda: listener.retained.get(AVAILABILITY) == b"offline")
        before_kill = max(r["id"] for r in listener.rows)
        _journal_rows(writer, 30)
        writer.close()
        dock = _serve(config)
        assert listener.wait_for(lambda: listener.retained.get(AVAILABILITY) == b"online")
        target = _last_id(data)
        assert listener.wait_for(lambda: any(r["id"] >= target for r in listener.rows))
        dock.send_signal(signal.SIGTERM)  # a clean stop: a last checkpoint, then `stopped`
        assert dock.wait(30) == 0
        assert listener.wait_for(lambda: listener.retained.get(AVAILABILITY) == b"stopped")
    finally:
        if dock.poll() is None:
            os.killpg(dock.pid, signal.SIGKILL)
            dock.wait(10)
        if dock.stderr:
            dock.stderr.close()
        listener.close()
    ids = [r["id"] for r in listener.rows]
    assert _first_seen(ids) == list(range(1, _last_id(data) + 1))  # none lost, in order
    # Only what was acknowledged in the killed process's last moments came twice.
    assert all(i <= before_kill for i in ids if ids.count(i) > 1)

"""`dock-registry serve` is one process (dashboard + worker) that stops on SIGTERM, and the
worker's loop raises a stale-gap alert once, on its own schedule."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from registry.config import BrokerSettings, RegistrySettings
from registry.db import migrate, open_engine, session_factory
from registry.derived import STALE_GAP
from registry.models import Alert
from registry.subscriber import run_worker
from tests.e2e.conftest import Flow, held_rows
from tests.registry.dockjournal import DockJournal


def test_registry_serve_answers_the_dashboard_and_stops_cleanly_on_sigterm(flow: Flow) -> None:
    url = flow.new_database()
    proc, port = flow.registry(url, command="serve")
    page = flow.wait(
        "the dashboard to answer",
        lambda: _get(f"http://127.0.0.1:{port}/?lang=en"),
    )
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert proc.stop() == 0, proc.output()
    assert _get(f"http://127.0.0.1:{port}/") is None  # the web server went with it
    assert "Traceback" not in proc.output()


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def test_a_chain_gap_older_than_the_limit_raises_one_stale_gap_alert(
    make_broker, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    broker = make_broker()
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = open_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    dock = DockJournal(tmp_path / "dock")
    dock.append(3)
    clock = dock.clock  # the registry's clock too: the test moves time, never sleeps it away
    base = RegistrySettings(database_url=url, stale_gap_minutes=30)
    settings = replace(
        base,
        broker=BrokerSettings(port=broker.port, tls=False, username="", client_id="gap-test"),
    )
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker, args=(settings, sessions, clock, stop), kwargs={"check_every_s": 0.1}
    )
    worker.start()
    try:
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        _until(lambda: "Received SUBSCRIBE from gap-test" in broker.log_text())
        messages = dock.messages()
        for topic, payload in (messages[0], messages[2]):  # row 2 never comes
            publisher.publish(topic, payload, qos=1).wait_for_publish(10)
        publisher.disconnect()
        publisher.loop_stop()
        _until(lambda: len(held_rows(engine, "dock-1")) == 2)
        time.sleep(0.3)  # a few checks before the limit: no alert yet
        assert _stale(sessions) == []
        clock.advance(timedelta(minutes=31).total_seconds())
        _until(lambda: _stale(sessions))
        time.sleep(0.3)  # more checks: still one alert
        assert [a.subject for a in _stale(sessions)] == ["row 2"]
    finally:
        stop.set()
        worker.join(10)
        dock.close()
        engine.dispose()
    assert not worker.is_alive()


def _stale(sessions) -> list[Alert]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(Alert).where(Alert.kind == STALE_GAP)).all())


def _until(condition, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)

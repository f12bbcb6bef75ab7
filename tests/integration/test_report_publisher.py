"""The publisher against a real Mosquitto: every row, in order, the cursor moved only by acks."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from dock import journal
from dock.clock import SystemClock
from dock.config import Settings
from dock.db.database import Database, open_database
from dock.events import BayStateChanged, EventBus
from dock.report import signing
from dock.report.publisher import Publisher
from firmware_bridge import reporting
from tests.servers import mosquitto
from tests.servers.mosquitto import Broker, BrokerFactory

make_broker = mosquitto.make_broker
CLOCK = SystemClock()
P = "bodycam-dock"
WAIT_S = 20


def _settings(data_dir: Path, broker: Broker, **mqtt_changes: Any) -> Settings:
    s = Settings()
    return replace(
        s,
        dock=replace(s.dock, data_dir=data_dir, dock_id="dock-01"),
        mqtt=replace(s.mqtt, host=broker.host, port=broker.port, **mqtt_changes),
    )


def _journal_rows(db: Database, n: int) -> None:
    for i in range(n):
        with db.transaction() as session:
            event = BayStateChanged(
                bay=1, device=None, from_state="empty", to_state="empty", trigger=f"t{i}"
            )
            journal.append(session, event, actor="test", at=CLOCK.now_utc())


class Listener:
    """A registry stand-in: every journal row message it got, decoded by the wire module."""

    def __init__(
        self,
        broker: Broker,
        client_id: str = "registry-stand-in",
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.rows: list[dict[str, Any]] = []
        self.retained: dict[str, bytes] = {}
        self.seen: list[str] = []  # every topic other than a journal row's, as it came
        self.ready = threading.Event()
        self.changed = threading.Condition()
        # A persistent session, like the registry's: what the broker took while this listener
        # was away (a broker restart) is delivered when it is back, so no race with the dock.
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if credentials is not None:
            c.username_pw_set(*credentials)
        if broker.tls:
            c.tls_set(ca_certs=str(broker.ca_file))
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(reporting.subscription(P), qos=1)
        c.on_subscribe = lambda cl, u, mid, rcs, p: self.ready.set()
        c.on_message = self._message
        c.reconnect_delay_set(0.05, 0.2)
        props = mqtt.Properties(mqtt.PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        c.connect(
            broker.host, broker.port, clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY, properties=props
        )
        c.loop_start()
        assert self.ready.wait(WAIT_S)
        self.client = c

    def _message(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        with self.changed:
            parts = reporting.parse_topic(P, m.topic)
            if parts.kind == "journal_row":
                self.rows.append(reporting.decode(m.topic, bytes(m.payload), P)["row"])
            else:
                self.retained[m.topic] = bytes(m.payload)
                self.seen.append(m.topic)
            self.changed.notify_all()

    def wait_for(self, rule: Any) -> bool:
        with self.changed:
            return self.changed.wait_for(rule, WAIT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def resume(self) -> None:
        """Connect again after close(): the broker kept this session and what it queued."""
        self.ready.clear()
        self.client.reconnect()
        self.client.loop_start()
        assert self.ready.wait(WAIT_S)


def test_every_row_arrives_in_order_and_a_broker_down_for_a_while_loses_and_reorders_nothing(
    tmp_path: Path, make_broker: BrokerFactory
) -> None:
    broker = make_broker()
    db = open_database(tmp_path, EventBus())
    listener = Listener(broker)
    publisher = Publisher(_settings(tmp_path, broker), db, CLOCK)
    publisher.start()
    try:
        _journal_rows(db, 30)
        assert publisher.wait_until_drained(WAIT_S)
        assert publisher.cursor == 30
        assert listener.wait_for(lambda: len(listener.rows) == 30)
        # Mosquitto 2.0 keeps a session across its restart only if it was not connected.
        listener.close()
        broker.stop()
        _journal_rows(db, 20)
        assert not publisher.wait_until_drained(1.0)
        assert publisher.cursor == 30 and publisher.backlog() == 20
        broker.start()  # the listener's session comes back with the broker's persistence
        listener.resume()
        assert publisher.wait_until_drained(WAIT_S)
        assert listener.wait_for(lambda: any(r["id"] == 50 for r in listener.rows))
    finally:
        publisher.stop()
        listener.close()
    ids = [r["id"] for r in listener.rows]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 50  # once each, in order


def test_a_clean_stop_signs_a_checkpoint_and_says_stopped(
    tmp_path: Path, make_broker: BrokerFactory
) -> None:
    broker = make_broker()
    db = open_database(tmp_path, EventBus())
    listener = Listener(broker)
    publisher = Publisher(_settings(tmp_path, broker), db, CLOCK)
    publisher.start()
    _journal_rows(db, 3)
    assert publisher.wait_until_drained(WAIT_S)
    assert listener.wait_for(
        lambda: listener.retained.get(f"{P}/dock-01/availability") == b"online"
    )
    publisher.stop()
    topic = f"{P}/dock-01/availability"
    assert listener.wait_for(lambda: listener.retained.get(topic) == b"stopped")
    assert listener.wait_for(lambda: any(r["type"] == "journal.checkpoint" for r in listener.rows))
    listener.close()
    checkpoint = next(r for r in listener.rows if r["type"] == "journal.checkpoint")
    assert checkpoint["data"]["head_id"] == 3 and checkpoint["data"]["journal_size"] == 3
    assert signing.verify_checkpoint("dock-01", checkpoint["data"])
    assert not signing.verify_checkpoint("dock-02", checkpoint["data"])
    assert (tmp_path / signing.KEY_NAME).stat().st_mode & 0o777 == 0o600


def test_an_acl_refused_publish_does_not_advance_the_cursor_and_is_logged_once(
    tmp_path: Path, make_broker: BrokerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    broker = make_broker(users={"dock-01": "pw"}, acl="pattern write bodycam-dock/nobody/#\n")
    (tmp_path / "pw").write_text("pw\n")
    db = open_database(tmp_path, EventBus())
    settings = _settings(tmp_path, broker, username="dock-01", password_file=str(tmp_path / "pw"))
    publisher = Publisher(settings, db, CLOCK)
    publisher.start()
    try:
        with caplog.at_level(logging.ERROR, logger="dock.report.publisher"):
            _journal_rows(db, 2)
            assert publisher.wait_until(lambda p: p.refused is not None, WAIT_S)
        assert publisher.cursor == 0 and publisher.backlog() == 2
        assert publisher.refused is not None and "0x87" in publisher.refused
        refusals = [r for r in caplog.records if "0x87" in r.getMessage()]
        assert len(refusals) == 1  # once, not once per row
    finally:
        publisher.stop(drain_timeout_s=0.5)
    again = Publisher(settings, db, CLOCK)  # the cursor file says 0 too: nothing was skipped
    assert again.cursor == 0

"""The publisher against a real Mosquitto: every row, in order, the cursor moved only by acks."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
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

    def __init__(self, broker: Broker) -> None:
        self.rows: list[dict[str, Any]] = []
        self.retained: dict[str, bytes] = {}
        self.ready = threading.Event()
        self.changed = threading.Condition()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(reporting.subscription(P), qos=1)
        c.on_subscribe = lambda cl, u, mid, rcs, p: self.ready.set()
        c.on_message = self._message
        c.connect(broker.host, broker.port)
        c.loop_start()
        assert self.ready.wait(WAIT_S)
        self.client = c

    def _message(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        with self.changed:
            parts = reporting.parse_topic(P, m.topic)
            if parts.kind == "journal_row":
                self.rows.append(reporting.decode(m.topic, m.payload, P)["row"])
            else:
                self.retained[m.topic] = m.payload
            self.changed.notify_all()

    def wait_for(self, rule: Any) -> bool:
        with self.changed:
            return self.changed.wait_for(rule, WAIT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


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
        broker.stop()
        _journal_rows(db, 20)
        assert not publisher.wait_until_drained(1.0)
        assert publisher.cursor == 30 and publisher.backlog() == 20
        broker.start()
        listener.close()
        listener = Listener(broker)
        assert publisher.wait_until_drained(WAIT_S)
        assert listener.wait_for(lambda: any(r["id"] == 50 for r in listener.rows))
    finally:
        publisher.stop()
        listener.close()
    ids = [r["id"] for r in listener.rows]
    assert ids == sorted(ids) and set(range(31, 51)) <= set(ids)


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


def test_an_acl_refused_publish_does_not_advance_the_cursor(
    tmp_path: Path, make_broker: BrokerFactory
) -> None:
    broker = make_broker(users={"dock-01": "pw"}, acl="pattern write bodycam-dock/nobody/#\n")
    (tmp_path / "pw").write_text("pw\n")
    db = open_database(tmp_path, EventBus())
    settings = _settings(tmp_path, broker, username="dock-01", password_file=str(tmp_path / "pw"))
    publisher = Publisher(settings, db, CLOCK)
    publisher.start()
    try:
        _journal_rows(db, 2)
        assert not publisher.wait_until_drained(2.0)
        assert publisher.cursor == 0
        assert publisher.refused is not None and "0x87" in publisher.refused
    finally:
        publisher.stop(drain_timeout_s=0.5)

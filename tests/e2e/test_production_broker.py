"""The production broker configuration (registry/broker/) enforces what the docks rely on.

Debian's Mosquitto runs with registry/broker/mosquitto.conf and acl rewritten only for the
test's port, paths and a throw-away CA; paho-mqtt speaks MQTT v5 over TLS, so a publish the
ACL refuses comes back as PUBACK reason 0x87 (under 3.1.1 Mosquitto acknowledges it anyway).
"""

from __future__ import annotations

import getpass
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.servers.mosquitto import Broker, _write_tls

BROKER_DIR = Path(__file__).resolve().parents[2] / "registry" / "broker"
USERS = {"dock-a": "pw-a", "dock-b": "pw-b", "registry": "pw-registry"}
NOT_AUTHORIZED = 0x87


class ProductionBroker(Broker):
    """The fixture's broker, configured from registry/broker/ instead of its own lines."""

    def _write_config(self) -> None:
        d = self.directory
        ca, cert, key = _write_tls(d)
        self.ca_file = ca
        acl = d / "acl"
        acl.write_text((BROKER_DIR / "acl").read_text())
        conf = (BROKER_DIR / "mosquitto.conf").read_text()
        replacements = {
            r"^listener 8883$": f"listener {self.port} {self.host}",
            r"^cafile .*$": f"cafile {ca}",
            r"^certfile .*$": f"certfile {cert}",
            r"^keyfile .*$": f"keyfile {key}",
            r"^password_file .*$": f"password_file {self._write_password_file()}",
            r"^acl_file .*$": f"acl_file {acl}",
            r"^persistence_location .*$": f"persistence_location {d / 'data'}/",
            r"^log_dest syslog$": f"log_dest file {self.log_path}",
        }
        for pattern, new in replacements.items():
            conf, n = re.subn(pattern, new, conf, flags=re.M)
            assert n == 1, f"production mosquitto.conf has no line matching {pattern}"
        # As root Mosquitto would drop to the `mosquitto` user, who cannot write tmp_path.
        conf += f"user {getpass.getuser()}\n"
        (d / "mosquitto.conf").write_text(conf)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionBroker]:
    b = ProductionBroker(tmp_path_factory.mktemp("prod-broker"), users=USERS).start()
    try:
        yield b
    finally:
        b.stop()


class Client:
    """A paho v5 client over TLS that records CONNACK and PUBACK reason codes and messages."""

    def __init__(self, broker: ProductionBroker, user: str | None, password: str | None) -> None:
        self.connected = threading.Event()
        self.connack: int | None = None
        self.pubacks: dict[int, int] = {}
        self.acked = threading.Condition()
        self.messages: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"t-{user}-{time.monotonic_ns()}",
            protocol=mqtt.MQTTv5,
        )
        c.tls_set(ca_certs=str(broker.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if user is not None:
            c.username_pw_set(user, password)
        c.on_connect = self._on_connect
        c.on_publish = self._on_publish
        c.on_message = lambda _c, _u, m: self.messages.append((m.topic, bytes(m.payload)))
        c.on_subscribe = lambda *_a: self.subscribed.set()
        self.client = c
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        assert self.connected.wait(10), "no CONNACK within 10 s"

    def _on_connect(self, _c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        self.connack = int(getattr(rc, "value", rc))  # type: ignore[call-overload]
        self.connected.set()

    def _on_publish(self, _c: object, _u: object, mid: int, rc: object, _p: object) -> None:
        with self.acked:
            self.pubacks[mid] = int(getattr(rc, "value", rc))  # type: ignore[call-overload]
            self.acked.notify_all()

    def publish(self, topic: str, payload: bytes = b"x") -> int:
        """Publish QoS 1 and return the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        with self.acked:
            assert self.acked.wait_for(lambda: info.mid in self.pubacks, 10), "no PUBACK"
            return self.pubacks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clients(broker: ProductionBroker) -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def connect(broker: ProductionBroker, made: list[Client], user: str | None) -> Client:
    c = Client(broker, user, USERS.get(user or ""))
    made.append(c)
    return c


def test_a_dock_cannot_publish_another_docks_topics(broker, clients) -> None:  # type: ignore[no-untyped-def]
    dock_a = connect(broker, clients, "dock-a")
    assert dock_a.connack == 0
    assert dock_a.publish("bodycam-dock/dock-b/journal/clip.offloaded") == NOT_AUTHORIZED
    assert dock_a.publish("bodycam-dock/dock-b/availability") == NOT_AUTHORIZED
    assert dock_a.publish("elsewhere/topic") == NOT_AUTHORIZED


def test_a_dock_publishes_its_own_topics_and_the_registry_reads_them(broker, clients) -> None:  # type: ignore[no-untyped-def]
    registry = connect(broker, clients, "registry")
    registry.client.subscribe("$share/registry/bodycam-dock/#", qos=1)
    assert registry.subscribed.wait(10)
    dock_a = connect(broker, clients, "dock-a")
    dock_b = connect(broker, clients, "dock-b")
    assert dock_a.publish("bodycam-dock/dock-a/journal/dock.started", b"a") == 0
    assert dock_b.publish("bodycam-dock/dock-b/status", b"b") == 0
    deadline = time.monotonic() + 10
    while len(registry.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(registry.messages) == [
        ("bodycam-dock/dock-a/journal/dock.started", b"a"),
        ("bodycam-dock/dock-b/status", b"b"),
    ]


def test_a_dock_reads_nothing_not_even_its_own_topics(broker, clients) -> None:  # type: ignore[no-untyped-def]
    dock_b = connect(broker, clients, "dock-b")
    dock_b.client.subscribe("bodycam-dock/#", qos=1)
    assert dock_b.subscribed.wait(10)
    dock_a = connect(broker, clients, "dock-a")
    assert dock_a.publish("bodycam-dock/dock-a/status", b"secret") == 0
    time.sleep(0.5)
    assert dock_b.messages == []


def test_the_registry_cannot_publish_as_a_dock(broker, clients) -> None:  # type: ignore[no-untyped-def]
    registry = connect(broker, clients, "registry")
    assert registry.publish("bodycam-dock/dock-a/journal/clip.offloaded") == NOT_AUTHORIZED


def test_anonymous_and_wrong_passwords_are_refused(broker) -> None:  # type: ignore[no-untyped-def]
    for user, password in ((None, None), ("dock-a", "wrong")):
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.tls_set(ca_certs=str(broker.ca_file))
        if user:
            c.username_pw_set(user, password)
        codes: list[int] = []
        done = threading.Event()

        def on_connect(_c, _u, _f, rc, _p, codes=codes, done=done):  # type: ignore[no-untyped-def]
            codes.append(int(rc.value))
            done.set()

        c.on_connect = on_connect
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        try:
            assert done.wait(10)
        finally:
            c.loop_stop()
            c.disconnect()
        # 0x86 Bad user name or password / 0x87 Not authorized: anything but success.
        assert codes[0] in (0x86, 0x87), codes


def test_plain_tcp_to_the_tls_port_gets_no_mqtt_session(broker) -> None:  # type: ignore[no-untyped-def]
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set("dock-a", USERS["dock-a"])
    connected = threading.Event()
    c.on_connect = lambda *_a: connected.set()
    try:
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        assert not connected.wait(2)
    except OSError:
        pass  # the broker closed the socket before paho finished: refused just the same
    finally:
        c.loop_stop()
        c.disconnect()


def test_a_dock_will_is_published_only_under_its_own_prefix(broker, clients) -> None:  # type: ignore[no-untyped-def]
    """A last will outside the dock's prefix is dropped, not delivered."""
    registry = connect(broker, clients, "registry")
    registry.client.subscribe("bodycam-dock/#", qos=1)
    assert registry.subscribed.wait(10)
    for will_topic in ("bodycam-dock/dock-b/availability", "bodycam-dock/dock-a/availability"):
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.tls_set(ca_certs=str(broker.ca_file))
        c.username_pw_set("dock-a", USERS["dock-a"])
        props = Properties(PacketTypes.WILLMESSAGE)
        c.will_set(will_topic, b"offline", qos=1, retain=True, properties=props)
        connected = threading.Event()
        c.on_connect = lambda *_a, e=connected: e.set()
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        assert connected.wait(10)
        c.loop_stop()
        sock = c.socket()
        assert sock is not None
        sock.close()  # die without DISCONNECT: the broker sends the will
    deadline = time.monotonic() + 10
    while not registry.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    assert [t for t, _ in registry.messages] == ["bodycam-dock/dock-a/availability"]


def test_the_docks_publisher_reports_every_row_through_the_production_broker(
    broker: ProductionBroker, clients: list[Client], tmp_path: Path
) -> None:
    """dock.report.publisher with dock-a's credentials over TLS: nothing refused, all rows read."""
    from dataclasses import replace

    from dock import journal
    from dock.clock import SystemClock
    from dock.config import Settings
    from dock.db.database import open_database
    from dock.events import BayStateChanged, EventBus
    from dock.report.publisher import Publisher

    registry = connect(broker, clients, "registry")
    registry.client.subscribe("$share/registry/bodycam-dock/dock-a/journal/#", qos=1)
    assert registry.subscribed.wait(10)
    password = tmp_path / "mqtt-password"
    password.write_text(USERS["dock-a"] + "\n")
    s = Settings()
    settings = replace(
        s,
        dock=replace(s.dock, data_dir=tmp_path, dock_id="dock-a"),
        mqtt=replace(
            s.mqtt,
            host="127.0.0.1",
            port=broker.port,
            tls_ca_file=str(broker.ca_file),
            username="dock-a",
            password_file=str(password),
        ),
    )
    clock = SystemClock()
    db = open_database(tmp_path, EventBus())
    publisher = Publisher(settings, db, clock)
    publisher.start()
    try:
        for i in range(20):
            with db.transaction() as session:
                event = BayStateChanged(
                    bay=1, device=None, from_state="empty", to_state="empty", trigger=f"t{i}"
                )
                journal.append(session, event, actor="test", at=clock.now_utc())
        assert publisher.wait_until_drained(20)
        assert publisher.refused is None
        deadline = time.monotonic() + 10
        while len(registry.messages) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        publisher.stop()
    ids = [json.loads(payload)["row"]["id"] for _t, payload in registry.messages]
    assert ids[:20] == list(range(1, 21))

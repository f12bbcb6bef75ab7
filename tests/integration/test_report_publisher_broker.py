"""The test broker itself: what the reporting tests rely on it doing."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.servers import mosquitto
from tests.servers.mosquitto import Broker, BrokerFactory

make_broker = mosquitto.make_broker

WAIT_S = 10


def _client(
    broker: Broker, client_id: str, user: str | None = None, pw: str | None = None
) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if user is not None:
        c.username_pw_set(user, pw)
    if broker.tls:
        c.tls_set(ca_certs=str(broker.ca_file))
    return c


def _publish_reason(c: mqtt.Client, broker: Broker, topic: str) -> int:
    """Connect, publish QoS 1 and return the PUBACK reason code value."""
    acked = threading.Event()
    codes: list[int] = []
    connected = threading.Event()

    def on_connect(client, userdata, flags, rc, props):  # type: ignore[no-untyped-def]
        codes.append(rc.value)
        connected.set()

    def on_publish(client, userdata, mid, rc, props):  # type: ignore[no-untyped-def]
        codes.append(rc.value)
        acked.set()

    c.on_connect = on_connect
    c.on_publish = on_publish
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        assert connected.wait(WAIT_S)
        assert codes[0] == 0, f"connect refused: {codes[0]:#x}"
        c.publish(topic, b"x", qos=1)
        assert acked.wait(WAIT_S)
        return codes[1]
    finally:
        c.disconnect()
        c.loop_stop()


def test_a_broker_started_again_keeps_its_port_and_its_queued_messages(
    make_broker: BrokerFactory,
) -> None:
    broker = make_broker()
    port = broker.port
    got: list[bytes] = []
    sub_ready = threading.Event()
    sub = _client(broker, "sub")
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("t/#", qos=1)
    sub.on_subscribe = lambda c, u, mid, rcs, p: sub_ready.set()
    sub.on_message = lambda c, u, m: got.append(m.payload)
    props = mqtt.Properties(mqtt.PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    sub.connect(broker.host, broker.port, clean_start=False, properties=props)
    sub.loop_start()
    assert sub_ready.wait(WAIT_S)
    sub.disconnect()
    sub.loop_stop()
    assert _publish_reason(_client(broker, "pub"), broker, "t/1") == 0
    broker.stop()
    broker.start()
    assert broker.port == port
    done = threading.Event()
    sub2 = _client(broker, "sub")
    sub2.on_message = lambda c, u, m: (got.append(m.payload), done.set())
    sub2.connect(broker.host, broker.port, clean_start=False, properties=props)
    sub2.loop_start()
    try:
        assert done.wait(WAIT_S), broker.log_text()[-1500:]
    finally:
        sub2.disconnect()
        sub2.loop_stop()
    assert got == [b"x"]


def test_a_password_tls_broker_refuses_a_publish_its_acl_forbids_with_0x87(
    make_broker: BrokerFactory,
) -> None:
    broker = make_broker(
        users={"dock1": "s3cret"}, acl="pattern write bodycam-dock/%u/#\n", tls=True
    )
    ok = _publish_reason(
        _client(broker, "dock1", "dock1", "s3cret"), broker, "bodycam-dock/dock1/x"
    )
    refused = _publish_reason(
        _client(broker, "dock1b", "dock1", "s3cret"), broker, "bodycam-dock/dock2/x"
    )
    # 0x10 "no matching subscribers" is a success: accepted means a reason code under 0x80.
    assert (ok, refused) == (0x10, 0x87)

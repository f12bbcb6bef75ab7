"""Two registry workers on one shared subscription, against a real Mosquitto, store each
journal row exactly once and verify the whole chain."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from registry.config import BrokerSettings
from registry.ingest import Outcome
from registry.models import Dock, Row
from registry.subscriber import Subscriber
from tests.registry.dockjournal import DockJournal
from tests.servers import mosquitto as _mosquitto

make_broker = _mosquitto.make_broker


def test_two_workers_on_a_shared_subscription_store_each_row_exactly_once(
    make_broker,  # noqa: F811 - the fixture, by name
    make_ingestor,
    dock_journal: DockJournal,
) -> None:
    broker = make_broker()
    outcomes: list[tuple[int, Outcome]] = []
    workers = []
    for n in range(2):
        ingestor = make_ingestor()
        object.__setattr__(ingestor, "on_stored", lambda dock, o, n=n: outcomes.append((n, o)))
        settings = BrokerSettings(
            host=broker.host, port=broker.port, tls=False, username="", client_id=f"reg-{n}"
        )
        worker = Subscriber(settings, ingestor)
        worker.start()
        workers.append(worker)
    try:
        assert all(w.subscribed.wait(10) for w in workers)
        dock_journal.append(60)
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        publisher.connect(broker.host, broker.port)
        publisher.loop_start()
        for topic, payload in dock_journal.messages():
            publisher.publish(topic, payload, qos=1).wait_for_publish(5)
        publisher.disconnect()
        publisher.loop_stop()
        deadline = time.monotonic() + 30
        while len(outcomes) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for worker in workers:
            worker.stop()
    assert sorted(o for _, o in outcomes) == [Outcome.STORED] * 60
    assert {n for n, _ in outcomes} == {0, 1}  # both workers took a share
    with ingestor.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Row)) == 60
        assert session.get(Dock, "dock-1").verified_head_id == 60  # type: ignore[union-attr]

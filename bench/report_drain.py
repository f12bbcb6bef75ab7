"""Outbox drain rate: how fast the dock's Publisher empties a backlog into a local Mosquitto.

N journal rows are committed while the broker runs, then a Publisher starts on that data and
is timed until the broker has acknowledged every row (its cursor at the last id). Target:
at least 2,000 events/s. The baseline, measured in the same run on the same broker, is a bare
paho MQTT v5 QoS 1 loop publishing the same payloads with the same inflight window, so the
ratio says what reading the journal, the cursor and the bookkeeping add on top of the broker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROWS = 20_000
BATCH = 500  # rows per setup transaction (setup speed only; not measured)
WAIT_S = 300.0
DOCK = "bench-dock"
PREFIX = "bodycam-dock"


def _journal(data: Path, rows: int) -> list[tuple[str, bytes]]:
    """Commit `rows` journal rows; return (topic, payload) of each as the publisher sends it."""
    from dock import journal
    from dock.clock import SystemClock
    from dock.db.database import open_database
    from dock.events import BayStateChanged, EventBus
    from firmware_bridge import reporting

    clock = SystemClock()
    db = open_database(data, EventBus())
    try:
        for start in range(0, rows, BATCH):
            with db.transaction() as session:
                for i in range(start, min(rows, start + BATCH)):
                    event = BayStateChanged(
                        bay=1, device="D1", from_state="ready", to_state="ready", trigger=f"t{i}"
                    )
                    journal.append(session, event, actor="bench", at=clock.now_utc())
        with db.transaction() as session:
            entries = journal.read_after(session, 0, rows)
    finally:
        db.close()
    return [
        (
            reporting.journal_topic(PREFIX, DOCK, e.type),
            reporting.encode(reporting.row_message(DOCK, e)),
        )
        for e in entries
    ]


def bare_paho_s(port: int, messages: list[tuple[str, bytes]], inflight: int) -> float:
    """Seconds for a bare paho QoS 1 loop to have every message acknowledged."""
    acked = 0
    done = threading.Event()
    lock = threading.Lock()

    def on_publish(*_a: object) -> None:
        nonlocal acked
        with lock:
            acked += 1
            if acked == len(messages):
                done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(inflight)
    c.max_queued_messages_set(0)
    c.on_publish = on_publish
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        start = time.perf_counter()
        for topic, payload in messages:
            c.publish(topic, payload, qos=1)
        if not done.wait(WAIT_S):
            raise RuntimeError(f"bare paho: {acked} of {len(messages)} acknowledged")
        return time.perf_counter() - start
    finally:
        c.disconnect()
        c.loop_stop()


def publisher_s(port: int, data: Path) -> tuple[float, int]:
    """Seconds from Publisher.start() until the broker acknowledged the whole backlog."""
    from dock.clock import SystemClock
    from dock.config import Settings
    from dock.db.database import open_database
    from dock.events import EventBus
    from dock.report.publisher import Publisher

    s = Settings()
    settings = replace(
        s,
        dock=replace(s.dock, data_dir=data, dock_id=DOCK),
        mqtt=replace(s.mqtt, host="127.0.0.1", port=port, topic_prefix=PREFIX),
    )
    db = open_database(data, EventBus())
    publisher = Publisher(settings, db, SystemClock())
    try:
        start = time.perf_counter()
        publisher.start()
        if not publisher.wait_until_drained(WAIT_S):
            raise RuntimeError(f"publisher: cursor {publisher.cursor} of {ROWS}")
        return time.perf_counter() - start, settings.mqtt.max_inflight
    finally:
        publisher.stop(drain_timeout_s=10)
        db.close()


def run() -> list[dict]:
    from dock.localrun.servers import Mosquitto as Broker

    tmp = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    broker = Broker(tmp / "broker").start()
    try:
        messages = _journal(tmp / "dock", ROWS)
        raw_s = bare_paho_s(broker.port, messages, inflight=100)
        pub_s, inflight = publisher_s(broker.port, tmp / "dock")
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    figures = {
        "publisher_events_per_s": round(ROWS / pub_s),
        "bare_paho_events_per_s": round(ROWS / raw_s),
        "publisher_ratio_to_bare_paho": round(raw_s / pub_s, 2),
        "rows": ROWS,
        "max_inflight": inflight,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    return [
        {
            "name": "report_outbox_drain_to_local_mosquitto",
            "figures": figures,
            "units": {
                "publisher_events_per_s": "1/s",
                "bare_paho_events_per_s": "1/s",
                "publisher_ratio_to_bare_paho": "x",
                "rows": "count",
                "max_inflight": "count",
                "load_average_1m": "load",
            },
            "targets": {"publisher_events_per_s": ">= 2000"},
        }
    ]

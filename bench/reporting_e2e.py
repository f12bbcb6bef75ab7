"""Reporting delay: a journal row's commit to its row in the registry's database.

Target: p99 under 1 s at 100 events/s through the real broker into PostgreSQL. The baseline,
measured in the same run on the same broker, is the raw MQTT v5 QoS 1 round trip of the same
number of messages at the same rate (publisher -> Mosquitto -> subscriber), so the ratio says
what the dock's publisher and the registry's ingest add on top of the broker.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

RATE_PER_S = 100
EVENTS = 500


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def raw_round_trip_s(port: int) -> list[float]:
    """Per-message delay publisher -> broker -> subscriber at RATE_PER_S, QoS 1, MQTT v5."""
    sent: dict[int, float] = {}
    delays: list[float] = []
    got = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=mqtt.MQTTv5)
    subscribed = threading.Event()
    sub.on_subscribe = lambda *_a: subscribed.set()

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        delays.append(time.perf_counter() - sent[int(m.payload)])
        if len(delays) == EVENTS:
            got.set()

    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    sub.subscribe("bodycam-dock/#", qos=1)
    subscribed.wait(10)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    start = time.perf_counter()
    for i in range(EVENTS):
        wait = start + i / RATE_PER_S - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        sent[i] = time.perf_counter()
        pub.publish(f"bodycam-dock/bench/journal/row.{i % 7}", str(i).encode(), qos=1)
    got.wait(30)
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return delays


def run() -> list[dict]:
    from tests.servers.mosquitto import Broker

    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp) / "broker").start()
        try:
            raw = raw_round_trip_s(broker.port)
        finally:
            broker.stop()
    figures: dict[str, object] = {
        "raw_round_trip_median_ms": round(statistics.median(raw) * 1000, 2),
        "raw_round_trip_p99_ms": round(_p99(raw) * 1000, 2),
        "events": EVENTS,
        "rate_per_s": RATE_PER_S,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "target_p99_ms": 1000,
    }
    if importlib.util.find_spec("registry.ingest") is None:
        figures["end_to_end"] = "not measured: registry.ingest (the registry's worker) not present"
    return [
        {
            "name": "reporting_commit_to_registry_row_100_per_s",
            "figures": figures,
            "units": {
                "raw_round_trip_median_ms": "ms",
                "raw_round_trip_p99_ms": "ms",
                "events": "count",
                "rate_per_s": "1/s",
                "load_average_1m": "load",
                "target_p99_ms": "ms",
            },
        }
    ]

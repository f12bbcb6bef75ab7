"""Reporting delay: a journal row's commit on the dock to its row in the registry's database.

Target: p99 under 1 s at 100 events/s. The real path: a dock Journal (dock.journal.append,
one transaction per event) -> the dock's Publisher (dock/report/publisher.py) -> a local
Mosquitto -> a registry worker in its own process (registry/subscriber.py) -> PostgreSQL 15, and the
same into SQLite. The delay of a row is the time from its commit to the end of the
registry's transaction that stored it. The baseline, measured in the same run on the same
broker, is the raw MQTT v5 QoS 1 round trip of the same number of messages at the same rate
(publisher -> Mosquitto -> subscriber), so the ratio says what the dock's publisher and the
registry's ingest add on top of the broker.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

RATE_PER_S = 100
EVENTS = 3000  # 30 s at 100 events/s
WAIT_S = 180.0  # a registry that falls behind is measured, not cut off


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _paced(count: int, work: Any) -> None:
    """Call work(i) for i in range(count) at RATE_PER_S, never bunching after a late call."""
    start = time.perf_counter()
    for i in range(count):
        wait = start + i / RATE_PER_S - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        work(i)


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
    sub.subscribe("bench-raw/#", qos=1)
    subscribed.wait(10)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", port)
    pub.loop_start()

    def send(i: int) -> None:
        sent[i] = time.perf_counter()
        pub.publish(f"bench-raw/bench/journal/row.{i % 7}", str(i).encode(), qos=1)

    _paced(EVENTS, send)
    got.wait(WAIT_S)
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return delays


def _registry_worker(registry_url: str, port: int, name: str) -> subprocess.Popen[str]:
    """A registry worker in its own process, as deployed (bench/registry_ingest.py's child)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.registry_ingest", "--worker", registry_url, str(port),
         f"bench-reg-{name}", ""],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        child.kill()
        raise RuntimeError("the registry worker did not subscribe")
    return child


def commit_to_registry_s(
    port: int, registry_url: str, work_dir: Path, name: str
) -> tuple[list[float], float]:
    """Per-row delay from the dock's commit to the registry's stored row, at RATE_PER_S, and
    the rows per second the registry sustained. The stored time is the row's `received_at`,
    taken inside the registry's transaction just before its commit (the same wall clock)."""
    from sqlalchemy import select

    from dock import journal
    from dock.clock import SystemClock
    from dock.config import Settings
    from dock.db.database import open_database
    from dock.events import BayStateChanged, EventBus
    from dock.report.publisher import Publisher
    from registry.db import migrate, open_engine
    from registry.models import Row

    clock = SystemClock()
    engine = open_engine(registry_url)
    migrate(engine)
    worker = _registry_worker(registry_url, port, name)
    dock_id = f"bench-{name}"
    dock_dir = work_dir / f"dock-{name}"
    dock_dir.mkdir()
    base = Settings()
    settings = replace(
        base,
        dock=replace(base.dock, data_dir=dock_dir, dock_id=dock_id),
        mqtt=replace(base.mqtt, host="127.0.0.1", port=port),
    )
    db = open_database(dock_dir, EventBus())
    publisher = Publisher(settings, db, clock)
    publisher.start()
    committed: dict[int, float] = {}

    def append(i: int) -> None:
        with db.transaction() as session:
            event = BayStateChanged(
                bay=1 + i % 8, device=None, from_state="empty", to_state="empty", trigger=f"t{i}"
            )
            entry = journal.append(session, event, actor="bench", at=clock.now_utc())
        committed[entry.id] = time.time()

    def stored() -> dict[int, float]:
        with engine.connect() as conn:
            held = conn.execute(
                select(Row.row_id, Row.received_at).where(
                    Row.dock_id == dock_id, Row.conflict_no == 0
                )
            ).all()
        return {row_id: at.timestamp() for row_id, at in held}

    try:
        _paced(EVENTS, append)
        deadline = time.monotonic() + WAIT_S
        stored_at = stored()
        while time.monotonic() < deadline and not committed.keys() <= stored_at.keys():
            time.sleep(0.2)
            stored_at = stored()
        acked = publisher.cursor
    finally:
        publisher.stop()
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait(30)
        engine.dispose()
    missing = committed.keys() - stored_at.keys()
    if missing:
        raise RuntimeError(
            f"{len(missing)} of {EVENTS} rows never reached the registry ({name}); "
            f"the broker acknowledged the dock's rows up to {acked}"
        )
    return [stored_at[i] - t for i, t in committed.items()], _rows_per_s(committed, stored_at)


def _rows_per_s(committed: dict[int, float], stored_at: dict[int, float]) -> float:
    """What the registry sustained: rows stored per second from the first commit to the last
    row stored (under RATE_PER_S when it fell behind)."""
    span = max(stored_at[i] for i in committed) - min(committed.values())
    return round(len(committed) / span, 1)


def run() -> list[dict]:
    from bench.registry_ingest import broker_and_postgres

    with broker_and_postgres("bench-reporting") as (tmp, broker, postgres):
        try:
            raw = raw_round_trip_s(broker.port)
            pg_url = postgres.create_database("bench_e2e")
            pg, pg_rate = commit_to_registry_s(broker.port, pg_url, tmp, "postgresql")
            lite_url = f"sqlite:///{tmp / 'registry.db'}"
            lite, lite_rate = commit_to_registry_s(broker.port, lite_url, tmp, "sqlite")
        except Exception:
            print(broker.log_text()[-3000:], file=sys.stderr)
            raise
    ms = 1000
    raw_p99 = _p99(raw)
    figures: dict[str, object] = {
        "raw_round_trip_median_ms": round(statistics.median(raw) * ms, 2),
        "raw_round_trip_p99_ms": round(raw_p99 * ms, 2),
        "postgresql_median_ms": round(statistics.median(pg) * ms, 2),
        "postgresql_p99_ms": round(_p99(pg) * ms, 2),
        "postgresql_p99_ratio_to_raw": round(_p99(pg) / raw_p99, 1),
        "postgresql_rows_per_s": pg_rate,
        "sqlite_median_ms": round(statistics.median(lite) * ms, 2),
        "sqlite_p99_ms": round(_p99(lite) * ms, 2),
        "sqlite_p99_ratio_to_raw": round(_p99(lite) / raw_p99, 1),
        "sqlite_rows_per_s": lite_rate,
        "events": EVENTS,
        "rate_per_s": RATE_PER_S,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    units = {k: "ms" for k in figures if k.endswith("_ms")}
    units.update({k: "x" for k in figures if "ratio" in k})
    units.update({k: "1/s" for k in figures if k.endswith("_per_s")})
    units.update({"events": "count", "load_average_1m": "load"})
    return [
        {
            "name": "reporting_commit_to_registry_row_100_per_s",
            "figures": figures,
            "units": units,
            "targets": {"postgresql_p99_ms": "< 1000", "sqlite_p99_ms": "< 1000"},
        }
    ]

"""Registry ingest rate: 200 simulated docks into PostgreSQL through 1 and 2 workers.

Each dock's journal is synthetic but validly chained (dock.journal.row_hash, sent as
firmware_bridge.reporting.row_message), published at QoS 1 on per-dock topics from a few
client connections, as fast as the broker takes them. The workers are separate processes
(as `dock-registry ingest` runs them), each a registry Subscriber on the same MQTT v5 shared
subscription, so the broker splits the rows between them and one dock's rows reach both:
the per-dock lock serialises their chain checks. The figure is events stored per second,
first publish to last row held; the check is that every event is held exactly once and
every dock's chain verified to its last row.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

DOCKS = 200
ROWS_PER_DOCK = 10
CONNECTIONS = 4
PREFIX = "bodycam-dock"
WAIT_S = 300.0


def chained_messages(
    dock: str, rows: Sequence[tuple[str, int | None, str | None, dict[str, Any]]]
) -> list[tuple[str, bytes]]:
    """(topic, payload) for `dock`'s journal rows (type, bay, device, data) chained from genesis,
    exactly as its publisher sends them."""
    from dock.journal import GENESIS_HASH, JournalEntry, canonical_json, row_hash
    from firmware_bridge import reporting

    at = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    prev, out = GENESIS_HASH, []
    for i, (kind, bay, device, data) in enumerate(rows, start=1):
        at += timedelta(seconds=1)
        digest = row_hash(i, at, kind, "bay", bay, device, canonical_json(data), prev)
        entry = JournalEntry(i, at, kind, "bay", bay, device, data, prev, digest)
        out.append(
            (
                reporting.journal_topic(PREFIX, dock, kind),
                reporting.encode(reporting.row_message(dock, entry)),
            )
        )
        prev = digest
    return out


def dock_messages(dock: str, rows: int) -> list[tuple[str, bytes]]:
    """`rows` bay state changes of one simulated dock."""
    return chained_messages(
        dock,
        [
            ("bay.state_changed", 1 + i % 8, None,
             {"from_state": "empty", "to_state": "identifying", "trigger": f"t{i}"})
            for i in range(1, rows + 1)
        ],
    )  # fmt: skip


def worker(url: str, port: int, client_id: str, group: str) -> None:
    """One registry worker in this process until stdin closes (the bench's child)."""
    from dock.clock import SystemClock
    from registry.config import BrokerSettings
    from registry.db import open_engine, session_factory
    from registry.ingest import Ingestor
    from registry.subscriber import Subscriber

    engine = open_engine(url)
    ingestor = Ingestor(
        sessions=session_factory(engine), prefix=PREFIX, clock=SystemClock(), public_keys={}
    )
    settings = BrokerSettings(
        host="127.0.0.1", port=port, tls=False, username="", client_id=client_id,
        share_group=group,
    )  # fmt: skip
    subscriber = Subscriber(settings, ingestor)
    subscriber.start()
    if not subscriber.subscribed.wait(20):
        raise SystemExit("worker: no subscription within 20 s")
    print("ready", flush=True)
    sys.stdin.read()
    subscriber.stop()
    engine.dispose()


def _publish_all(port: int, messages: list[list[tuple[str, bytes]]]) -> None:
    """Each connection sends its docks' rows interleaved, row 1 of every dock, then row 2..."""

    def send(k: int) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-docks-{k}", protocol=mqtt.MQTTv5
        )
        client.max_inflight_messages_set(500)
        client.connect("127.0.0.1", port)
        client.loop_start()
        mine = messages[k::CONNECTIONS]
        infos = [
            client.publish(topic, payload, qos=1)
            for i in range(ROWS_PER_DOCK)
            for dock in mine
            for topic, payload in (dock[i],)
        ]
        for info in infos:
            info.wait_for_publish(WAIT_S)
        client.disconnect()
        client.loop_stop()

    threads = [threading.Thread(target=send, args=(k,)) for k in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def ingest_rate(workers: int, port: int, url: str, messages: list[list[tuple[str, bytes]]]) -> dict:
    from registry.db import migrate, open_engine

    engine = open_engine(url)
    migrate(engine)
    group = f"bench-{workers}w"
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.registry_ingest",
                "--worker",
                url,
                str(port),
                f"{group}-{n}",
                group,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for n in range(workers)
    ]
    total = DOCKS * ROWS_PER_DOCK
    try:
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("a registry worker did not start")
        start = time.perf_counter()
        _publish_all(port, messages)
        held = 0
        deadline = time.monotonic() + WAIT_S
        with engine.connect() as conn:
            while held < total and time.monotonic() < deadline:
                time.sleep(0.05)
                held = conn.execute(text("SELECT count(*) FROM rows")).scalar_one()
                conn.rollback()
        seconds = time.perf_counter() - start
        with engine.connect() as conn:
            rows, distinct, conflicts = conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT (dock_id, row_id)),"
                    " count(*) FILTER (WHERE conflict_no > 0) FROM rows"
                )
            ).one()
            verified = conn.execute(
                text("SELECT count(*) FROM docks WHERE verified_head_id = :n"),
                {"n": ROWS_PER_DOCK},
            ).scalar_one()
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        engine.dispose()
    exactly_once = rows == distinct == total and conflicts == 0 and verified == DOCKS
    if not exactly_once:
        raise RuntimeError(
            f"{workers} worker(s): held {rows} rows ({distinct} distinct, {conflicts} "
            f"conflicts) of {total}; {verified} of {DOCKS} chains verified to the end"
        )
    return {"events_per_s": round(total / seconds, 1), "seconds": round(seconds, 2)}


@contextmanager
def broker_and_postgres(prefix: str) -> Iterator[tuple[Path, Any, Any]]:
    """A scratch folder, a local Mosquitto and a PostgreSQL 15, all gone afterwards."""
    from dock.localrun.servers import Mosquitto as Broker
    from tests.servers.postgres import start_postgres

    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    pg_base = Path(tempfile.mkdtemp(prefix=f"{prefix}-pg-"))  # outside pytest's 0700 dirs
    broker = Broker(tmp / "broker").start()
    postgres = None
    try:
        postgres = start_postgres(pg_base)
        yield tmp, broker, postgres
    finally:
        broker.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(pg_base, ignore_errors=True)


def run() -> list[dict]:
    messages = [dock_messages(f"dock-{d:03}", ROWS_PER_DOCK) for d in range(DOCKS)]
    with broker_and_postgres("bench-ingest") as (_tmp, broker, postgres):
        one = ingest_rate(1, broker.port, postgres.create_database("bench_1w"), messages)
        two = ingest_rate(2, broker.port, postgres.create_database("bench_2w"), messages)
    return [
        {
            "name": "registry_ingest_200_docks_1_and_2_workers",
            "figures": {
                "events": DOCKS * ROWS_PER_DOCK,
                "docks": DOCKS,
                "one_worker_events_per_s": one["events_per_s"],
                "two_workers_events_per_s": two["events_per_s"],
                "ratio_2w_to_1w": round(two["events_per_s"] / one["events_per_s"], 2),
                "stored_exactly_once": True,
                "load_average_1m": round(os.getloadavg()[0], 2),
                "cpu_count": os.cpu_count(),
            },
            "units": {
                "events": "count",
                "docks": "count",
                "one_worker_events_per_s": "1/s",
                "two_workers_events_per_s": "1/s",
                "ratio_2w_to_1w": "x",
                "load_average_1m": "load",
                "cpu_count": "count",
            },
        }
    ]


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    worker(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])

"""Reporting end to end with real processes: `dock serve --simulate` -> Mosquitto -> registry.

Each dock is a real `dock serve` subprocess with its own credentials under the production ACL
(registry/broker/acl); each registry worker a real `dock-registry` subprocess on a fresh
PostgreSQL 15 database. The assertions compare the registry's rows with the dock's own
SQLite journal, read after the fact: every row once, in order, its chain verified.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.e2e.conftest import (
    BIN,
    Flow,
    Proc,
    alert_kinds,
    dock_rows,
    held_dock,
    held_rows,
    publish_as,
)
from tests.registry.dockjournal import DockJournal


def recheck(data_dir: Path, bay: int = 1) -> None:
    """`dock check BAY` against the running dock: a few more journal rows, made on demand."""
    config = data_dir.parent / f"{data_dir.name}.toml"
    subprocess.run(
        [str(BIN / "dock"), "--config", str(config), "check", str(bay)],
        capture_output=True,
        timeout=60,
        check=False,
    )


def assert_every_row_once_in_order(engine: Engine, dock_id: str, data_dir: Path) -> None:
    mine = dock_rows(data_dir)
    held = held_rows(engine, dock_id)
    assert [(r.row_id, r.prev_hash, r.hash) for r in held] == mine
    assert all(r.chain_ok for r in held), [r.row_id for r in held if not r.chain_ok]
    dock = held_dock(engine, dock_id)
    assert dock is not None and dock.verified_head_id == mine[-1][0]


def all_reported(engine: Engine, dock_id: str, data_dir: Path) -> bool:
    mine = dock_rows(data_dir)
    return bool(mine) and len(held_rows(engine, dock_id)) >= len(mine)


def start_dock(
    flow: Flow, dock_id: str = "dock-a", share_group: str = "registry"
) -> tuple[Engine, Path, Proc]:
    url = flow.new_database()
    flow.registry(url, share_group=share_group)
    engine = flow.engine(url)
    data_dir = flow.dock_dir(dock_id)
    return engine, data_dir, flow.dock(data_dir, dock_id)


def test_a_broker_down_for_a_while_mid_stream_loses_duplicates_and_reorders_no_row(
    flow: Flow,
) -> None:
    """The worst order: the dock is back (and drains) before the registry reconnects.

    One worker on a plain subscription: Mosquitto 2.0 restores it from persistence after a
    restart, a shared one it does not (registry/subscriber.py explains)."""
    url = flow.new_database()
    registry, _ = flow.registry(url, share_group="")
    engine = flow.engine(url)
    data_dir = flow.dock_dir("dock-a")
    dock = flow.dock(data_dir, "dock-a")
    flow.wait("the first rows at the registry", lambda: held_rows(engine, "dock-a"))
    flow.broker.stop()
    registry.stop()  # it comes back last
    reached = len(held_rows(engine, "dock-a"))
    recheck(data_dir)  # rows written while the broker is away
    flow.wait("the dock to write past what reached the registry",
              lambda: len(dock_rows(data_dir)) > reached + 3)  # fmt: skip
    flow.broker.start()  # same port, same persistence
    flow.wait("the dock's backlog acknowledged by the broker",
              lambda: acknowledged(data_dir) == dock_rows(data_dir)[-1][0], 60)  # fmt: skip
    registry.start()  # same client id: its persistent session holds what it missed
    flow.wait("the backlog at the registry",
              lambda: all_reported(engine, "dock-a", data_dir), 60)  # fmt: skip
    assert dock.stop() == 0, dock.output()
    flow.wait("the last checkpoint", lambda: all_reported(engine, "dock-a", data_dir))
    assert_every_row_once_in_order(engine, "dock-a", data_dir)


def acknowledged(data_dir: Path) -> int:
    """The dock publisher's cursor: the last row id the broker acknowledged."""
    try:
        return int(json.loads((data_dir / "report.cursor").read_text())["cursor"])
    except (OSError, ValueError, KeyError):
        return -1


def test_a_dock_killed_mid_stream_shows_offline_then_restarted_loses_no_row(flow: Flow) -> None:
    engine, data_dir, dock = start_dock(flow)
    flow.wait("the dock online", lambda: (held_dock(engine, "dock-a") or _none).availability
             == "online")  # fmt: skip
    flow.wait("some rows at the registry", lambda: len(held_rows(engine, "dock-a")) >= 3)
    dock.kill()
    flow.wait("the last will", lambda: held_dock(engine, "dock-a").availability == "offline")  # type: ignore[union-attr]
    dock = flow.dock(data_dir, "dock-a")
    flow.wait("the dock back online",
             lambda: held_dock(engine, "dock-a").availability == "online")  # type: ignore[union-attr]  # fmt: skip
    recheck(data_dir)
    flow.wait("the rest of the rows", lambda: all_reported(engine, "dock-a", data_dir), 60)
    assert dock.stop() == 0, dock.output()
    flow.wait("`stopped`", lambda: held_dock(engine, "dock-a").availability == "stopped")  # type: ignore[union-attr]
    flow.wait("the last checkpoint", lambda: all_reported(engine, "dock-a", data_dir))
    assert_every_row_once_in_order(engine, "dock-a", data_dir)
    assert "chain_mismatch" not in alert_kinds(engine, "dock-a")


class _None:
    availability = None


_none = _None()


def test_a_dock_with_another_docks_credentials_is_refused_and_nothing_is_stored_for_it(
    flow: Flow,
) -> None:
    """The broker side (PUBACK 0x87) is test_production_broker's; here: the registry's side."""
    url = flow.new_database()
    flow.registry(url)
    engine = flow.engine(url)
    data_dir = flow.dock_dir("dock-b")
    forger = flow.dock(data_dir, "dock-b", user="dock-a")  # dock-a's password, dock-b's topics
    flow.wait("the broker to refuse the forged topics",
              lambda: "Denied PUBLISH from dock-dock-b" in flow.broker.log_text(), 60)  # fmt: skip
    flow.wait("the dock's own journal", lambda: dock_rows(data_dir))
    assert forger.stop() == 0  # its `stopped` is refused as well
    assert held_dock(engine, "dock-b") is None
    assert held_rows(engine, "dock-b") == []
    assert held_dock(engine, "dock-a") is None


@pytest.mark.parametrize("tampering", ["truncated", "recomputed"])
def test_a_truncated_or_recomputed_dock_journal_raises_the_chain_alert_once_it_reports(
    flow: Flow, tampering: str
) -> None:
    engine, data_dir, dock = start_dock(flow)
    flow.wait("a whole docking reported",  # more rows than the tampering below takes
              lambda: "就绪" in dock.output() and all_reported(engine, "dock-a", data_dir), 60)  # fmt: skip
    assert dock.stop() == 0
    flow.wait("the last checkpoint", lambda: all_reported(engine, "dock-a", data_dir))
    assert "chain_mismatch" not in alert_kinds(engine, "dock-a")
    size = len(flow.wait("the dock's journal readable", lambda: dock_rows(data_dir)))
    owner = DockJournal(data_dir, "dock-a")  # what a dock owner with file access can do
    try:
        if tampering == "truncated":
            owner.truncate(keep=size - 5)
        else:
            owner.rewrite(5, {"edited": "by the owner"})
        tampered_head = owner.entries()[-1].hash
    finally:
        owner.close()
    assert tampered_head != held_rows(engine, "dock-a")[size - 1].hash
    dock = flow.dock(data_dir, "dock-a")
    recheck(data_dir)
    flow.wait("the chain alert", lambda: "chain_mismatch" in alert_kinds(engine, "dock-a"), 60)
    dock.stop()


def test_two_registry_workers_on_a_shared_subscription_store_every_row_once(
    flow: Flow,
) -> None:
    url = flow.new_database()
    workers = [flow.registry(url, client_id=f"worker-{n}")[0] for n in (1, 2)]
    engine = flow.engine(url)
    data_dir = flow.dock_dir("dock-a")
    dock = flow.dock(data_dir, "dock-a")
    flow.wait("every row", lambda: all_reported(engine, "dock-a", data_dir), 60)
    recheck(data_dir)
    assert dock.stop() == 0
    flow.wait("the last rows", lambda: all_reported(engine, "dock-a", data_dir))
    assert_every_row_once_in_order(engine, "dock-a", data_dir)
    log = flow.broker.log_text()
    for worker in ("worker-1", "worker-2"):  # both took a share of the journal rows
        assert re.search(rf"Sending PUBLISH to {worker} .*bodycam-dock/dock-a/journal/", log)
    assert [w.stop() for w in workers] == [0, 0]  # `ingest` stops cleanly on SIGTERM


def test_hostile_payloads_on_the_broker_are_refused_with_one_logged_line_each_nothing_stored(
    flow: Flow, tmp_path: Path
) -> None:
    url = flow.new_database()
    registry, _ = flow.registry(url)
    engine = flow.engine(url)
    real = DockJournal(tmp_path / "real", "dock-a")  # a well-formed row to spoil
    try:
        real.append(1)
        topic, good = real.messages()[0]
    finally:
        real.close()
    doc = json.loads(good)
    wrong_schema = json.dumps({**doc, "schema": 99}).encode()
    other_dock = json.dumps({**doc, "dock": "dock-b"}).encode()
    huge = json.dumps({**doc, "row": {**doc["row"], "data": {"x": "a" * (1 << 20)}}}).encode()
    hostile = [
        (topic, b"{not json"),
        (topic, wrong_schema),
        (topic, huge),
        (topic, other_dock),  # dock-b's id in a message on dock-a's topic, from dock-a
        ("bodycam-dock/dock-a/status", b"[1, 2"),
    ]
    # The broker takes them all (they are on dock-a's own topics): the registry must refuse.
    assert publish_as(flow.broker, "dock-a", hostile) == [0] * len(hostile)
    assert publish_as(flow.broker, "registry", [(topic, good)]) == [0x87]  # read-only

    def refusals() -> list[str]:
        return [line for line in registry.output().splitlines() if "refused a message" in line]

    flow.wait("five refusals logged", lambda: len(refusals()) >= len(hostile))
    reasons = "\n".join(refusals())
    for expected in ("not UTF-8 JSON", "schema", "bytes is over", "does not match the topic"):
        assert expected in reasons, reasons
    assert len(refusals()) == len(hostile)
    assert "Traceback" not in registry.output()
    assert held_dock(engine, "dock-a") is None and held_dock(engine, "dock-b") is None
    assert held_rows(engine, "dock-a") == [] and held_rows(engine, "dock-b") == []

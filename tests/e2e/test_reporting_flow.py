"""Issue 11 end to end with real processes: `dock serve --simulate` -> Mosquitto -> registry.

Each dock is a real `dock serve` subprocess with its own credentials under the production ACL
(registry/broker/acl); each registry worker a real `dock-registry` subprocess on a fresh
PostgreSQL 15 database. The assertions compare the registry's rows with the dock's own
SQLite journal, read after the fact: every row once, in order, its chain verified.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import Engine

from tests.e2e.conftest import BIN, Flow, Proc, alert_kinds, dock_rows, held_dock, held_rows


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


def start_dock(flow: Flow, dock_id: str = "dock-a") -> tuple[Engine, Path, Proc]:
    url = flow.new_database()
    flow.registry(url)
    engine = flow.engine(url)
    data_dir = flow.dock_dir(dock_id)
    return engine, data_dir, flow.dock(data_dir, dock_id)


def test_a_broker_down_for_a_while_mid_stream_loses_duplicates_and_reorders_no_row(
    flow: Flow,
) -> None:
    engine, data_dir, dock = start_dock(flow)
    flow.wait("the first rows at the registry", lambda: held_rows(engine, "dock-a"))
    flow.broker.stop()
    reached = len(held_rows(engine, "dock-a"))
    recheck(data_dir)  # rows written while the broker is away
    flow.wait("the dock to write past what reached the registry",
             lambda: len(dock_rows(data_dir)) > reached + 3)  # fmt: skip
    flow.broker.start()  # same port, same persistence
    flow.wait("the backlog to drain", lambda: all_reported(engine, "dock-a", data_dir), 60)
    assert dock.stop() == 0, dock.output()
    flow.wait("the last checkpoint", lambda: all_reported(engine, "dock-a", data_dir))
    assert_every_row_once_in_order(engine, "dock-a", data_dir)


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

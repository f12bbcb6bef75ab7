"""Queries the dashboard needs, read-only, over the registry tables (docks, bays, devices, alerts, rows).

The tables are registry/models.py's, written by registry/ingest.py; plain SQL so it works on
SQLite and PostgreSQL alike, and on a read replica (nothing here writes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text


@dataclass(frozen=True)
class Dashboard:
    docks: list[dict[str, Any]]
    bays: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    offloads: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


def _rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql))]


def change_marker(engine: Engine) -> str:
    """A cheap value that changes whenever anything the page shows changes (polled by SSE).

    Every part is an indexed maximum of something that only grows: a row's or an alert's
    autoincrement key, a clearing time, a state's time. COUNT(*) was a full scan of `rows`
    every poll, and two changes (a conflict kept, a row gone) could leave it unchanged.
    """
    sql = (
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM alerts) AS a,"
        " (SELECT MAX(cleared_at) FROM alerts) AS c,"
        " (SELECT COALESCE(MAX(pk), 0) FROM rows) AS r,"
        " (SELECT MAX(availability_at) FROM docks) AS d,"
        " (SELECT MAX(status_at) FROM docks) AS s,"
        " (SELECT MAX(at) FROM bays) AS b"
    )
    with engine.connect() as conn:
        return "|".join(str(v) for v in conn.execute(text(sql)).one())


def _offloads(engine: Engine) -> list[dict[str, Any]]:
    """Offloads started and not finished, with the latest progress row's bytes.

    Field names are the journal's own (dock/events.py OffloadStarted.total_bytes,
    OffloadProgress.done_bytes / total_bytes).
    """
    rows = _rows(
        engine,
        "SELECT dock_id, row_id, type, bay, device, data_json, at_utc FROM rows"
        " WHERE type IN ('offload.started', 'offload.progress', 'offload.finished')"
        " ORDER BY dock_id, row_id",
    )
    open_: dict[tuple[Any, Any], dict[str, Any]] = {}
    for r in rows:
        key = (r["dock_id"], r["bay"])
        data = json.loads(r["data_json"] or "{}")
        if r["type"] == "offload.finished":
            open_.pop(key, None)
            continue
        cur = open_.setdefault(
            key, {"dock_id": r["dock_id"], "bay": r["bay"], "device": r["device"]}
        )
        cur["done"] = data.get("done_bytes", cur.get("done", 0))
        cur["total"] = data.get("total_bytes", cur.get("total"))
        cur["at"] = r["at_utc"]
    return list(open_.values())


def dashboard(engine: Engine) -> Dashboard:
    docks = _rows(
        engine,
        "SELECT id, availability, availability_at, status_json, status_at,"
        " verified_head_id, verified_head_hash, last_checkpoint_size, last_checkpoint_signed_at"
        " FROM docks ORDER BY id",
    )
    for d in docks:
        raw = d["status_json"]
        status = json.loads(raw) if isinstance(raw, str) else (raw or {})
        d["journal_size"] = status.get("journal_size")
    bays = _rows(engine, "SELECT dock_id, bay, state, at FROM bays ORDER BY dock_id, bay")
    for b in bays:
        state = b["state"]
        b["state"] = json.loads(state) if isinstance(state, str) else (state or {})
    devices = _rows(
        engine,
        "SELECT serial, dock_id, last_verdict, battery_pct AS battery, at FROM devices ORDER BY serial",
    )
    alerts = _rows(
        engine,
        "SELECT id, dock_id, kind, subject, text, at FROM alerts"
        " WHERE cleared_at IS NULL ORDER BY at DESC, id DESC",
    )
    return Dashboard(docks, bays, devices, _offloads(engine), alerts)

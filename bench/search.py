"""Clip search over 1,000,000 synthetic clip rows on SQLite: a page of 50 with one filter.

Target: under 200 ms a page. The baseline, measured in the same run on the same rows, is
the same query made to scan the table (`NOT INDEXED`): the ratio says what the per-field
indexes of migration 0007 buy.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from dock.db.database import open_database
from dock.people.classification import FIELDS, search

ROWS = 1_000_000
START = datetime(2026, 1, 1, tzinfo=UTC)


def _fill(db_path: Path) -> None:
    import sqlite3

    raw = sqlite3.connect(db_path)
    raw.execute("PRAGMA synchronous = OFF")
    rows = (
        (
            "agency", "dock-01", 1, f"REC-{n % 400}", f"{n % 2000}",
            (START + timedelta(seconds=30 * n)).isoformat(sep=" "),
            (START + timedelta(seconds=30 * n + 20)).isoformat(sep=" "),
            (START + timedelta(seconds=30 * n + 60)).isoformat(sep=" "),
            f"place {n % 5000}", "现场执法", 1000, f"{n:064x}", "DCIM/x.MP4", 60.0,
            f"case {n % 20000}", f"{n % 20000}", f"party {n % 30000}", f"type {n % 12}",
        )
        for n in range(ROWS)
    )  # fmt: skip
    raw.executemany(
        "INSERT INTO clips (agency, dock_id, bay, device_serial, officer_number, "
        "recorded_start_utc, recorded_end_utc, stored_at_utc, place, category, size_bytes, "
        "sha256, source_path, handover_delay_s, case_name, case_number, party, "
        "enforcement_type, is_important, is_late, verification, verification_reason, "
        "raw_path, name_encoding, is_listed, time_source, metadata_disagreements, "
        "offload_confirmed_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,0,'size_only','',"
        "'','',1,'listing','','')",
        rows,
    )
    raw.commit()
    raw.execute("ANALYZE")
    raw.close()


def _median_ms(run, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def clip_search() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Path(tmp))
        _fill(Path(tmp) / "dock.sqlite3")
        values = {
            "case_name": "case 77", "case_number": "77", "party": "party 77",
            "enforcement_type": "type 7", "category": "现场执法", "place": "place 77",
        }  # fmt: skip
        figures: dict[str, float] = {}
        with db.transaction() as session:
            for name in FIELDS:
                figures[f"{name}_ms"] = _median_ms(
                    lambda n=name: search(session, {n: values[n]})  # type: ignore[misc]
                )
            scan_sql = text(
                "SELECT id FROM clips NOT INDEXED WHERE place = :v "
                "ORDER BY recorded_start_utc DESC, id DESC LIMIT 50"
            )
            figures["scan_baseline_ms"] = _median_ms(
                lambda: session.execute(scan_sql, {"v": values["place"]}).all(), repeat=3
            )
        db.close()
    worst = max(v for k, v in figures.items() if k != "scan_baseline_ms")
    figures["worst_page_ms"] = worst
    figures["worst_vs_scan"] = round(worst / figures["scan_baseline_ms"], 4)
    return {
        "name": "search",
        "figures": {k: round(v, 3) for k, v in figures.items()},
        "units": {"rows": ROWS, "page": 50},
        "targets": {"worst_page_ms": "< 200"},
    }


def run() -> list[dict]:
    return [clip_search()]

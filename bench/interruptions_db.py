"""Interruption figures through the dock's real database, beside bench.timeline's
pure ones:

- docking: the step each docking adds once the clips are stored, rebuilding one recorder's
  timeline from 10,000 stored events and 2,000 stored clips and comparing it with the
  stored interruptions (nothing new: the everyday case), and the first time, when each
  interruption is journaled (a one-off per recorder);
- compliance: `dock compliance` over a year for 200 officers, read from SQLite through the
  CLI's own query (dock.cli.interruption_commands.compliance_report), target under 2 s.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bench.timeline import START, synthetic_shift, synthetic_year
from dock.cli.interruption_commands import compliance_report
from dock.clock import SystemClock
from dock.config import InterruptionSettings
from dock.db import open_database
from dock.db.models import Clip, ExemptionRow, InterruptionRow, RecorderEventRow
from dock.interruptions.compliance import Period
from dock.interruptions.reading import update_interruptions

SERIAL = "ZFY00001"


def _clip(i: int, serial: str, officer: str | None, start: datetime, end: datetime, late: bool):
    return {
        "agency": "bench",
        "dock_id": "dock-01",
        "bay": 1,
        "device_serial": serial,
        "officer_number": officer,
        "recorded_start_utc": start,
        "recorded_end_utc": end,
        "stored_at_utc": end,
        "size_bytes": 1,
        "sha256": f"{i:064x}",
        "source_path": f"DCIM/{i}.MP4",
        "handover_delay_s": 0.0,
        "is_late": late,
    }


def docking_timeline_10k_events_2k_clips() -> dict:
    events, spans = synthetic_shift()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-int-") as tmp:
        db = open_database(Path(tmp))
        try:
            with db.transaction() as session:
                session.execute(
                    insert(RecorderEventRow),
                    [
                        {
                            "device_serial": SERIAL,
                            "log_index": e.index,
                            "utc_s": e.utc_s,
                            "kind": e.kind,
                            "reason": e.reason,
                            "clip_path": e.clip_path,
                            "read_at_utc": now,
                        }
                        for e in events
                    ],
                )
                session.execute(
                    insert(Clip),
                    [
                        {
                            **_clip(i, SERIAL, s.officer_number, s.start_utc, s.end_utc, False),
                            "source_path": s.path,
                        }
                        for i, s in enumerate(spans)
                    ],  # fmt: skip
                )
            settings, clock = InterruptionSettings(), SystemClock()
            start = time.perf_counter()
            update_interruptions(db, SERIAL, 1, clock, settings)
            first_s = time.perf_counter() - start
            with db.transaction() as session:
                stored = session.query(InterruptionRow).count()
            again_s = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                update_interruptions(db, SERIAL, 1, clock, settings)
                again_s = min(again_s, time.perf_counter() - start)
        finally:
            db.close()
    return {
        "name": "interruptions_docking_step_10k_events_2k_clips",
        "figures": {
            "again_seconds": round(again_s, 3),
            "first_seconds": round(first_s, 3),
            "events": len(events),
            "clips": len(spans),
            "interruptions": stored,
            "target_seconds": 1.0,
        },
        "units": {
            "again_seconds": "s",
            "first_seconds": "s",
            "events": "count",
            "clips": "count",
            "interruptions": "count",
            "target_seconds": "s",
        },
        "targets": {"again_seconds": 1.0},
    }


def compliance_command_year_200_officers() -> dict:
    facts, found, exemptions = synthetic_year()
    rng = random.Random(5)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-comp-") as tmp:
        db = open_database(Path(tmp))
        try:
            with db.transaction() as session:
                session.execute(
                    insert(Clip),
                    [
                        _clip(
                            i,
                            "ZFY",
                            f.officer_number,
                            f.recorded_start_utc,
                            f.recorded_start_utc + timedelta(minutes=rng.randint(1, 30)),
                            f.is_late,
                        )
                        for i, f in enumerate(facts)
                    ],  # fmt: skip
                )
                session.execute(
                    insert(InterruptionRow),
                    [
                        {
                            "key": i.key,
                            "device_serial": i.device,
                            "officer_number": i.officer_number,
                            "start_utc": i.start_utc,
                            "end_utc": i.end_utc,
                            "reason_code": i.reason.code,
                            "found": i.found,
                            "status": i.status,
                            "explained_via": "",
                            "explanation": "",
                            "found_at_utc": now,
                        }
                        for i in found
                    ],
                )
                session.execute(
                    insert(ExemptionRow),
                    [
                        {
                            "category": e.category,
                            "at_utc": e.at_utc,
                            "place": e.place,
                            "officer_number": e.officer_number,
                            "approver": e.approver,
                            "note": e.note,
                            "recorded_at_utc": now,
                        }
                        for e in exemptions
                    ],
                )
        finally:
            db.close()
        year = Period(START, START + timedelta(days=365))
        best_s, officers = float("inf"), 0
        for _ in range(3):
            raw = sqlite3.connect(Path(tmp) / "dock.sqlite3")
            try:
                start = time.perf_counter()
                report = compliance_report(raw, year)
                best_s = min(best_s, time.perf_counter() - start)
                officers = len(report.officers)
            finally:
                raw.close()
    return {
        "name": "interruptions_compliance_command_year_200_officers",
        "figures": {
            "seconds": round(best_s, 3),
            "officers": officers,
            "clips": len(facts),
            "interruptions": len(found),
            "exemptions": len(exemptions),
            "target_seconds": 2.0,
        },
        "units": {
            "seconds": "s",
            "officers": "count",
            "clips": "count",
            "interruptions": "count",
            "exemptions": "count",
            "target_seconds": "s",
        },
        "targets": {"seconds": 2.0},
    }


def run() -> list[dict]:
    return [docking_timeline_10k_events_2k_clips(), compliance_command_year_200_officers()]

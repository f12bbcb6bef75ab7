"""Interruption figures: the shift's timeline and the compliance report.

- timeline: one recorder with 10,000 events and 2,000 clips (target under 1 s here);
- compliance: a year of synthetic facts for 200 officers (target under 2 s here).

Each figure comes with a baseline measured in the same run (sorting the same input, the
least any builder must do), so a ratio stays comparable across machines and loads.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dock.interruptions.compliance import ClipFact, Exemption, ExemptionCategory, Period
from dock.interruptions.compliance import build_report as build_compliance
from dock.interruptions.timeline import (
    ClipSpan,
    Found,
    Interruption,
    Status,
    build_timeline,
    reason_for,
)
from firmware_bridge import messages as m
from firmware_bridge.client import RecorderEvent

EVENTS = 10_000
CLIPS = 2_000
OFFICERS = 200
START = datetime(2026, 1, 1, tzinfo=UTC)
RUNS = 5


def synthetic_shift(
    events: int = EVENTS, clips: int = CLIPS, seed: int = 10
) -> tuple[list[RecorderEvent], list[ClipSpan]]:
    """A recorder's log with sessions, interruptions of every reason, voice notes and gaps."""
    rng = random.Random(seed)
    log: list[RecorderEvent] = []
    spans: list[ClipSpan] = []
    t = int(START.timestamp())

    def add(kind: int, reason: int = m.REASON_NONE, path: str = "") -> None:
        log.append(RecorderEvent(len(log), t, kind, reason, path))

    while len(spans) < clips and len(log) < events - 8:
        path = f"DCIM/{len(spans):05d}.MP4"
        add(m.EVENT_RECORDING_STARTED, path=path)
        length = rng.randint(60, 900)
        spans.append(ClipSpan(path, _at(t), _at(t + length), f"{len(spans) % 7:06d}"))
        t += length
        if rng.random() < 0.1:  # power lost: a gap, nothing logged
            t += rng.randint(30, 300)
            continue
        add(m.EVENT_INTERRUPTED, reason=m.REASON_FAULT + rng.randrange(7))
        t += rng.randint(10, 600)
        add(m.EVENT_RESUMED)
        if rng.random() < 0.3:
            note = f"AUDIO/{len(spans):05d}.WAV"
            add(m.EVENT_VOICE_NOTE, path=note)
            spans.append(ClipSpan(note, _at(t), _at(t + 15), None))
        add(m.EVENT_RECORDING_STOPPED)
        t += rng.randint(60, 3600)
    while len(log) < events:  # pad with short officer-stopped sessions that have no clip
        add(m.EVENT_RECORDING_STARTED)
        add(m.EVENT_RECORDING_STOPPED)
        t += 60
    return log[:events], spans


def synthetic_year(
    officers: int = OFFICERS, seed: int = 11
) -> tuple[list[ClipFact], list[Interruption], list[Exemption]]:
    """Ten clips a working day per officer, an interruption in three days, some exemptions."""
    rng = random.Random(seed)
    facts: list[ClipFact] = []
    found: list[Interruption] = []
    exemptions: list[Exemption] = []
    statuses = list(Status)
    categories = list(ExemptionCategory)
    for officer_index in range(officers):
        officer = f"{310000 + officer_index}"
        for day in range(0, 365):
            if day % 7 >= 5:
                continue
            base = START + timedelta(days=day, hours=8)
            facts.extend(
                ClipFact(officer, base + timedelta(minutes=40 * n), rng.random() < 0.02)
                for n in range(10)
            )
            if day % 3 == 0:
                found.append(
                    Interruption(
                        key=f"{officer}:{day}",
                        device=f"ZFY{officer_index:05d}",
                        officer_number=officer,
                        start_utc=base + timedelta(hours=3),
                        end_utc=base + timedelta(hours=3, minutes=5),
                        reason=reason_for(rng.randrange(8)),
                        found=Found.EVENT_LOG,
                        status=rng.choice(statuses),
                    )
                )
            if day % 50 == 0:
                exemptions.append(Exemption(rng.choice(categories), base, "place", officer, "head"))
    return facts, found, exemptions


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _best_s(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def timeline_10k_events_2k_clips() -> dict:
    """The timeline of one recorder; baseline: sorting its events and clips."""
    events, spans = synthetic_shift()
    result = build_timeline("ZFY00001", events, spans)
    timeline_s = _best_s(lambda: build_timeline("ZFY00001", events, spans))
    baseline_s = _best_s(
        lambda: (sorted(events, key=lambda e: e.index), sorted(spans, key=lambda c: c.start_utc))
    )
    return {
        "name": "interruptions_timeline_10k_events_2k_clips",
        "figures": {
            "seconds": round(timeline_s, 4),
            "baseline_sort_seconds": round(baseline_s, 4),
            "ratio_to_baseline": round(timeline_s / baseline_s, 1),
            "events": len(events),
            "clips": len(spans),
            "interruptions": len(result.interruptions),
            "target_seconds": 1.0,
        },
        "units": {
            "seconds": "s",
            "baseline_sort_seconds": "s",
            "ratio_to_baseline": "x",
            "events": "count",
            "clips": "count",
            "interruptions": "count",
            "target_seconds": "s",
        },
    }


def compliance_year_200_officers() -> dict:
    """The compliance report over a year; baseline: sorting the same facts by time."""
    facts, found, exemptions = synthetic_year()
    year = Period(START, START + timedelta(days=365))
    report_s = _best_s(lambda: build_compliance(year, facts, found, exemptions))
    baseline_s = _best_s(
        lambda: (
            sorted(facts, key=lambda f: f.recorded_start_utc),
            sorted(found, key=lambda i: i.start_utc),
        )
    )
    return {
        "name": "interruptions_compliance_year_200_officers",
        "figures": {
            "seconds": round(report_s, 4),
            "baseline_sort_seconds": round(baseline_s, 4),
            "ratio_to_baseline": round(report_s / baseline_s, 1),
            "clips": len(facts),
            "interruptions": len(found),
            "exemptions": len(exemptions),
            "target_seconds": 2.0,
        },
        "units": {
            "seconds": "s",
            "baseline_sort_seconds": "s",
            "ratio_to_baseline": "x",
            "clips": "count",
            "interruptions": "count",
            "exemptions": "count",
            "target_seconds": "s",
        },
    }


def run() -> list[dict]:
    return [timeline_10k_events_2k_clips(), compliance_year_200_officers()]

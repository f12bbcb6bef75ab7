"""Compliance counts for a crafted period, checked exactly in every rendering."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from dock.interruptions.compliance import (
    CSV_HEADER,
    TABLE_HEADER,
    UNKNOWN_OFFICER,
    ClipFact,
    Exemption,
    ExemptionCategory,
    OfficerCompliance,
    Period,
    ReasonCount,
    build_report,
    overdue,
    table_rows,
    to_csv,
    to_json,
)
from dock.interruptions.timeline import Found, Interruption, Status, reason_for
from firmware_bridge import messages as m

NOV = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def day(n: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, 1, hour, tzinfo=UTC) + timedelta(days=n - 1)


def interruption(officer: str | None, start: datetime, code: int, status: Status) -> Interruption:
    return Interruption(
        key=f"D:{start.timestamp():.0f}:{code}",
        device="D",
        officer_number=officer,
        start_utc=start,
        end_utc=start + timedelta(minutes=5),
        reason=reason_for(code),
        found=Found.GAP if code == m.REASON_NONE else Found.EVENT_LOG,
        status=status,
    )


CLIPS = [
    ClipFact("310115", day(1), is_late=False),
    ClipFact("310115", day(2), is_late=True),
    ClipFact("310115", day(30, 23), is_late=True),  # last hour of the period: in
    ClipFact("310115", datetime(2026, 12, 1, tzinfo=UTC), is_late=True),  # the end: out
    ClipFact("310116", day(3), is_late=False),
    ClipFact(None, day(4), is_late=False),
    ClipFact("310116", datetime(2026, 10, 31, 23, tzinfo=UTC), is_late=True),  # before: out
]
INTERRUPTIONS = [
    interruption("310115", day(1), m.REASON_BATTERY, Status.EXPLAINED_BY_VOICE),
    interruption("310115", day(2), m.REASON_BATTERY, Status.UNEXPLAINED),
    interruption("310115", day(5), m.REASON_NONE, Status.UNEXPLAINED),
    interruption("310115", day(6), m.REASON_FAULT, Status.EXPLAINED_IN_WRITING),
    interruption("310116", day(7), m.REASON_OBSTRUCTION, Status.EXPLAINED_BY_VOICE),
    interruption("310116", datetime(2026, 12, 2, tzinfo=UTC), m.REASON_FAULT, Status.UNEXPLAINED),
]
EXEMPTIONS = [
    Exemption(ExemptionCategory.PERSONAL_PRIVACY, day(8), "clinic", "310116", "head 01"),
    Exemption(ExemptionCategory.PERSONAL_PRIVACY, day(9), "home", "310116", "head 01"),
    Exemption(ExemptionCategory.STATE_SECRET, day(10), "site 3", "310115", "head 01"),
    Exemption(ExemptionCategory.EMERGENCY, datetime(2026, 12, 5, tzinfo=UTC), "x", "310115", "h"),
]


def test_counts_per_officer_for_a_crafted_month_are_exact():
    report = build_report(NOV, CLIPS, INTERRUPTIONS, EXEMPTIONS)
    assert report.officers == (
        OfficerCompliance(
            officer_number="310115",
            clips=3,
            late_handovers=2,
            explained_by_voice=1,
            explained_in_writing=1,
            unexplained=2,
            by_reason=(
                ReasonCount(m.REASON_NONE, explained=0, unexplained=1),
                ReasonCount(m.REASON_FAULT, explained=1, unexplained=0),
                ReasonCount(m.REASON_BATTERY, explained=1, unexplained=1),
            ),
            exemptions=((ExemptionCategory.STATE_SECRET, 1),),
        ),
        OfficerCompliance(
            officer_number="310116",
            clips=1,
            explained_by_voice=1,
            by_reason=(ReasonCount(m.REASON_OBSTRUCTION, explained=1, unexplained=0),),
            exemptions=((ExemptionCategory.PERSONAL_PRIVACY, 2),),
        ),
        OfficerCompliance(officer_number=UNKNOWN_OFFICER, clips=1),
    )
    assert report.officers[0].interruptions == 4


def test_the_table_rows_say_the_same_counts_in_words():
    rows = table_rows(build_report(NOV, CLIPS, INTERRUPTIONS, EXEMPTIONS))
    assert len(TABLE_HEADER) == len(rows[0])
    assert rows == [
        (
            "310115",
            "3",
            "2",
            "4",
            "1",
            "1",
            "2",
            "no reason logged 1, battery exhausted 1",
            "state secret 1",
        ),
        ("310116", "1", "0", "1", "1", "0", "0", "", "personal privacy 2"),
        ("unknown", "1", "0", "0", "0", "0", "0", "", ""),
    ]


def test_json_carries_reasons_in_both_languages_and_exemptions_by_category():
    document = json.loads(to_json(build_report(NOV, CLIPS, INTERRUPTIONS, EXEMPTIONS)))
    assert document["period"] == {
        "start_utc": "2026-11-01T00:00:00+00:00",
        "end_utc": "2026-12-01T00:00:00+00:00",
    }
    first = document["officers"][0]
    assert first["by_reason"][2] == {
        "code": m.REASON_BATTERY,
        "reason": "battery exhausted",
        "reason_zh": "电池电量耗尽",
        "explained": 1,
        "unexplained": 1,
    }
    assert first["exemptions"] == {"state_secret": 1}
    assert [o["unexplained"] for o in document["officers"]] == [2, 0, 0]


def test_csv_has_a_fixed_column_for_every_reason_and_category():
    rows = list(csv.DictReader(io.StringIO(to_csv(build_report(NOV, CLIPS, INTERRUPTIONS)))))
    assert list(rows[0]) == list(CSV_HEADER)
    assert len(CSV_HEADER) == 7 + 2 * 8 + 6
    first = rows[0]
    assert (first["officer_number"], first["battery_explained"], first["battery_unexplained"]) == (
        "310115",
        "1",
        "1",
    )
    assert (first["none_unexplained"], first["fault_explained"], first["weather_explained"]) == (
        "1",
        "1",
        "0",
    )
    assert first["exemption_state_secret"] == "0"  # no exemptions were passed this time
    assert [r["officer_number"] for r in rows] == ["310115", "310116", "unknown"]


def test_an_empty_period_gives_an_empty_report():
    empty = Period(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    report = build_report(empty, CLIPS, INTERRUPTIONS, EXEMPTIONS)
    assert report.officers == ()
    assert to_csv(report) == ",".join(CSV_HEADER) + "\n"


def test_only_unexplained_interruptions_past_the_limit_are_overdue():
    now = day(8)
    late = overdue(INTERRUPTIONS, now=now, limit=timedelta(days=3))
    assert [i.start_utc for i in late] == [day(2)]  # day 5 is 3 days old, not more


def test_a_period_refuses_naive_times():
    with pytest.raises(ValueError, match="aware"):
        Period(datetime(2026, 11, 1), datetime(2026, 12, 1, tzinfo=UTC))  # noqa: DTZ001

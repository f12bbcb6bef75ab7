"""Compliance per officer and period: clips, late hand-overs, interruptions, exemptions.

The unit head asks "who let recording stop without saying why, and how often": this module
counts it from facts the caller gathers (clip records, the timelines' interruptions, the
exemption records) and renders the same report as table rows, JSON and CSV. Pure: no I/O,
no clock; "now" is an argument where it matters.

A period is half-open, [start, end): a clip or interruption belongs to it by its start, an
exemption by its time. Whoever carried the recorder is the officer counted; facts with no
known officer are counted under UNKNOWN_OFFICER so they are never silently dropped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from dock.interruptions.timeline import REASONS, Interruption, Status, reason_for
from firmware_bridge import messages

UNKNOWN_OFFICER = "unknown"


class ExemptionCategory(StrEnum):
    """Why recording was legitimately skipped; each needs a written work record."""

    STATE_SECRET = "state_secret"
    COMMERCIAL_SECRET = "commercial_secret"
    PERSONAL_PRIVACY = "personal_privacy"
    EMERGENCY = "emergency"
    OBJECTIVE_CONDITIONS = "objective_conditions"
    EXPLOSION_RISK_AREA = "explosion_risk_area"  # without an explosion-proof recorder


CATEGORY_WORDS: dict[ExemptionCategory, tuple[str, str]] = {
    ExemptionCategory.STATE_SECRET: ("state secret", "涉及国家秘密"),
    ExemptionCategory.COMMERCIAL_SECRET: ("commercial secret", "涉及商业秘密"),
    ExemptionCategory.PERSONAL_PRIVACY: ("personal privacy", "涉及个人隐私"),
    ExemptionCategory.EMERGENCY: ("emergency", "紧急情况"),
    ExemptionCategory.OBJECTIVE_CONDITIONS: ("objective conditions", "客观条件不允许"),
    ExemptionCategory.EXPLOSION_RISK_AREA: (
        "explosion-risk area without an explosion-proof recorder",
        "易燃易爆场所且无防爆记录仪",
    ),
}


@dataclass(frozen=True)
class Period:
    start_utc: datetime
    end_utc: datetime  # excluded

    def __post_init__(self) -> None:
        if self.start_utc.tzinfo is None or self.end_utc.tzinfo is None:
            raise ValueError("a period needs aware UTC datetimes")

    def holds(self, moment: datetime) -> bool:
        return self.start_utc <= moment < self.end_utc


@dataclass(frozen=True)
class ClipFact:
    officer_number: str | None
    recorded_start_utc: datetime
    is_late: bool  # handed over later than the rules allow (ClipStored.is_late)


@dataclass(frozen=True)
class Exemption:
    """The written work record of a recording legitimately skipped."""

    category: ExemptionCategory
    at_utc: datetime
    place: str
    officer_number: str
    approver: str  # the unit head who approved it
    note: str = ""


@dataclass(frozen=True)
class ReasonCount:
    code: int
    explained: int
    unexplained: int


@dataclass(frozen=True)
class OfficerCompliance:
    officer_number: str
    clips: int = 0
    late_handovers: int = 0
    explained_by_voice: int = 0
    explained_in_writing: int = 0
    unexplained: int = 0
    by_reason: tuple[ReasonCount, ...] = ()  # only reasons that occurred, by code
    exemptions: tuple[tuple[ExemptionCategory, int], ...] = ()  # only those that occurred

    @property
    def interruptions(self) -> int:
        return self.explained_by_voice + self.explained_in_writing + self.unexplained


@dataclass(frozen=True)
class ComplianceReport:
    period: Period
    officers: tuple[OfficerCompliance, ...]  # by officer number


@dataclass
class _Tally:
    clips: int = 0
    late: int = 0
    statuses: dict[Status, int] = field(default_factory=dict)
    reasons: dict[tuple[int, bool], int] = field(default_factory=dict)
    exemptions: dict[ExemptionCategory, int] = field(default_factory=dict)


def build_report(
    period: Period,
    clips: Iterable[ClipFact],
    interruptions: Iterable[Interruption],
    exemptions: Iterable[Exemption] = (),
    *,
    clip_counts: Iterable[tuple[str | None, int, int]] = (),
    interruption_counts: Iterable[tuple[str | None, str, int, int]] = (),
) -> ComplianceReport:
    """`clip_counts` (officer, clips, late) and `interruption_counts` (officer, status,
    reason code, count) are facts already counted within the period, by SQL: a year of
    clips is half a million rows, too many to bring into Python one by one."""
    tallies: dict[str, _Tally] = {}

    def tally(officer: str | None) -> _Tally:
        key = officer or UNKNOWN_OFFICER
        found = tallies.get(key)
        if found is None:
            found = tallies[key] = _Tally()
        return found

    for clip in clips:
        if period.holds(clip.recorded_start_utc):
            t = tally(clip.officer_number)
            t.clips += 1
            t.late += clip.is_late
    for officer, count, late in clip_counts:
        t = tally(officer)
        t.clips += count
        t.late += late
    for officer, status_text, code, count in interruption_counts:
        t = tally(officer)
        status = Status(status_text)
        t.statuses[status] = t.statuses.get(status, 0) + count
        slot = (code, status is not Status.UNEXPLAINED)
        t.reasons[slot] = t.reasons.get(slot, 0) + count
    for interruption in interruptions:
        if period.holds(interruption.start_utc):
            t = tally(interruption.officer_number)
            t.statuses[interruption.status] = t.statuses.get(interruption.status, 0) + 1
            slot = (interruption.reason.code, interruption.is_explained)
            t.reasons[slot] = t.reasons.get(slot, 0) + 1
    for exemption in exemptions:
        if period.holds(exemption.at_utc):
            t = tally(exemption.officer_number)
            t.exemptions[exemption.category] = t.exemptions.get(exemption.category, 0) + 1
    return ComplianceReport(period, tuple(_row(k, tallies[k]) for k in sorted(tallies)))


def _row(officer: str, t: _Tally) -> OfficerCompliance:
    codes = sorted({code for code, _ in t.reasons})
    return OfficerCompliance(
        officer_number=officer,
        clips=t.clips,
        late_handovers=t.late,
        explained_by_voice=t.statuses.get(Status.EXPLAINED_BY_VOICE, 0),
        explained_in_writing=t.statuses.get(Status.EXPLAINED_IN_WRITING, 0),
        unexplained=t.statuses.get(Status.UNEXPLAINED, 0),
        by_reason=tuple(
            ReasonCount(c, t.reasons.get((c, True), 0), t.reasons.get((c, False), 0)) for c in codes
        ),
        exemptions=tuple((c, t.exemptions[c]) for c in ExemptionCategory if c in t.exemptions),
    )


def overdue(
    interruptions: Iterable[Interruption], *, now: datetime, limit: timedelta
) -> tuple[Interruption, ...]:
    """Unexplained interruptions older than `limit`: each one is an alert for the journal."""
    return tuple(i for i in interruptions if not i.is_explained and now - i.start_utc > limit)


# -- rendering --------------------------------------------------------------------------------

TABLE_HEADER = (
    "officer",
    "clips",
    "late",
    "interruptions",
    "by voice",
    "in writing",
    "unexplained",
    "unexplained by reason",
    "exemptions",
)


def table_rows(report: ComplianceReport) -> list[tuple[str, ...]]:
    """One row of text cells per officer, under TABLE_HEADER (the CLI draws the table)."""
    rows = []
    for o in report.officers:
        unexplained = ", ".join(
            f"{reason_for(r.code).en} {r.unexplained}" for r in o.by_reason if r.unexplained
        )
        exemptions = ", ".join(f"{CATEGORY_WORDS[c][0]} {n}" for c, n in o.exemptions)
        counts = (
            o.clips,
            o.late_handovers,
            o.interruptions,
            o.explained_by_voice,
            o.explained_in_writing,
            o.unexplained,
        )
        rows.append((o.officer_number, *map(str, counts), unexplained, exemptions))
    return rows


def to_json(report: ComplianceReport) -> str:
    document = {
        "period": {
            "start_utc": report.period.start_utc.isoformat(),
            "end_utc": report.period.end_utc.isoformat(),
        },
        "officers": [
            {
                "officer_number": o.officer_number,
                "clips": o.clips,
                "late_handovers": o.late_handovers,
                "interruptions": o.interruptions,
                "explained_by_voice": o.explained_by_voice,
                "explained_in_writing": o.explained_in_writing,
                "unexplained": o.unexplained,
                "by_reason": [
                    {
                        "code": r.code,
                        "reason": reason_for(r.code).en,
                        "reason_zh": reason_for(r.code).zh,
                        "explained": r.explained,
                        "unexplained": r.unexplained,
                    }
                    for r in o.by_reason
                ],
                "exemptions": {c.value: n for c, n in o.exemptions},
            }
            for o in report.officers
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _reason_slug(code: int) -> str:
    return messages.REASON_NAMES.get(code, f"reason_{code}").replace(" ", "_")


CSV_HEADER = (
    "officer_number",
    "clips",
    "late_handovers",
    "interruptions",
    "explained_by_voice",
    "explained_in_writing",
    "unexplained",
    *(f"{_reason_slug(c)}_{side}" for c in REASONS for side in ("explained", "unexplained")),
    *(f"exemption_{c.value}" for c in ExemptionCategory),
)


def to_csv(report: ComplianceReport) -> str:
    """Fixed columns (every reason, every category), so a spreadsheet's formulas keep working."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for o in report.officers:
        reasons = {r.code: r for r in o.by_reason}
        exemptions = dict(o.exemptions)
        per_reason = []
        for code in REASONS:
            r = reasons.get(code)
            per_reason += [r.explained if r else 0, r.unexplained if r else 0]
        writer.writerow(
            [
                o.officer_number,
                o.clips,
                o.late_handovers,
                o.interruptions,
                o.explained_by_voice,
                o.explained_in_writing,
                o.unexplained,
                *per_reason,
                *(exemptions.get(c, 0) for c in ExemptionCategory),
            ]
        )
    return out.getvalue()

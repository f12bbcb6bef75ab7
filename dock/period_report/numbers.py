"""The period report's numbers, per unit and officer, read with plain sqlite3.

Each figure is one grouped query over its own table for the period [start, end): clips and
hours recorded, hand-over delays and late ones (clips), interruptions by reason and whether
explained (interruptions), exemptions, viewings and exports (the people tables, 0 while they
do not exist), fixity checks (the journal's store.object_checked rows) and the sampling
audits' checklist answers (each auditor's latest score of a clip). Clips count by when they were recorded; the rest by when it
happened.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from firmware_bridge import messages

DB_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's SQLite DateTime stores a UTC time
NO_UNIT = "(no unit)"
NO_OFFICER = "(no officer)"


@dataclass
class OfficerLine:
    unit: str
    officer: str
    clips: int = 0
    recorded_s: float = 0.0
    handover_total_s: float = 0.0
    handover_max_s: float = 0.0
    late: int = 0
    explained: int = 0
    unexplained: int = 0
    # reason name -> [explained, unexplained]
    by_reason: dict[str, list[int]] = field(default_factory=dict)
    exemptions: int = 0
    viewings: int = 0
    exports: int = 0
    fixity_intact: int = 0
    fixity_failed: int = 0  # damaged or missing
    sample_passed: int = 0
    sample_answers: int = 0

    @property
    def hours(self) -> float:
        return self.recorded_s / 3600

    @property
    def handover_mean_h(self) -> float:
        return self.handover_total_s / self.clips / 3600 if self.clips else 0.0

    @property
    def sample_score_pct(self) -> float | None:
        return 100 * self.sample_passed / self.sample_answers if self.sample_answers else None


@dataclass(frozen=True)
class PeriodReport:
    start_utc: datetime
    end_utc: datetime
    lines: list[OfficerLine]  # sorted by unit, then officer

    def units(self) -> dict[str, list[OfficerLine]]:
        grouped: dict[str, list[OfficerLine]] = defaultdict(list)
        for line in self.lines:
            grouped[line.unit].append(line)
        return dict(grouped)


def db_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(DB_TIME)


def _has_table(raw: sqlite3.Connection, name: str) -> bool:
    found = raw.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return found.fetchone() is not None


CLIPS_SQL = (
    "SELECT officer_number, count(*), "
    "coalesce(sum((julianday(recorded_end_utc) - julianday(recorded_start_utc)) * 86400.0), 0), "
    "coalesce(sum(handover_delay_s), 0), coalesce(max(handover_delay_s), 0), "
    "coalesce(sum(is_late), 0) "
    "FROM clips WHERE recorded_start_utc >= ? AND recorded_start_utc < ? GROUP BY officer_number"
)
INTERRUPTIONS_SQL = (
    "SELECT officer_number, reason_code, status = 'unexplained', count(*) FROM interruptions "
    "WHERE start_utc >= ? AND start_utc < ? GROUP BY 1, 2, 3"
)
EXEMPTIONS_SQL = (
    "SELECT officer_number, count(*) FROM exemptions WHERE at_utc >= ? AND at_utc < ? GROUP BY 1"
)
VIEWINGS_SQL = (
    "SELECT c.officer_number, count(*) FROM viewings v JOIN clips c ON c.id = v.clip_id "
    "WHERE v.at_utc >= ? AND v.at_utc < ? GROUP BY 1"
)
EXPORTS_SQL = (
    "SELECT c.officer_number, count(*) FROM requests r JOIN clips c ON c.id = r.clip_id "
    "WHERE r.kind = 'export' AND r.carried_out_at_utc >= ? AND r.carried_out_at_utc < ? "
    "GROUP BY 1"
)
# A check names its clip's officer (StoreObjectChecked.officer_number), so a year of checks
# is counted from the journal alone; only rows written before it carried one look the
# officer up by hash (json_type is NULL for a missing key). '' is a clip with no officer;
# NULL an old row whose hash names no clip, left out as the join by hash left it out.
FIXITY_SQL = (
    "SELECT officer, is_intact, count(*) FROM (SELECT CASE "
    "WHEN json_type(j.data, '$.officer_number') IS NULL THEN (SELECT coalesce(c.officer_number, "
    "'') FROM clips c WHERE c.sha256 = json_extract(j.data, '$.sha256')) "
    "ELSE coalesce(json_extract(j.data, '$.officer_number'), '') END AS officer, "
    "json_extract(j.data, '$.outcome') = 'intact' AS is_intact FROM journal j "
    "WHERE j.type = 'store.object_checked' AND j.at_utc >= ? AND j.at_utc < ?) "
    "WHERE officer IS NOT NULL GROUP BY 1, 2"
)
# Each auditor's latest score of a clip in a sample: a rescore replaces their earlier one
# (dock.retention.sampling); two auditors' scores both count. `IS`, not `=`: a score from
# before migration 0012 that it found no journal row for (entry_id NULL) still counts.
SCORES_SQL = (
    "SELECT c.officer_number, coalesce(sum(s.is_passed), 0), count(*) "
    "FROM audit_scores s JOIN clips c ON c.id = s.clip_id "
    "WHERE c.recorded_start_utc >= ? AND c.recorded_start_utc < ? "
    "AND s.entry_id IS (SELECT max(o.entry_id) FROM audit_scores o WHERE o.clip_id = s.clip_id "
    "AND o.sample_id = s.sample_id AND o.auditor = s.auditor) GROUP BY 1"
)


def build_report(raw: sqlite3.Connection, start: datetime, end: datetime) -> PeriodReport:
    bounds = (db_time(start), db_time(end))
    units = dict(raw.execute("SELECT officer_number, unit_name FROM officers").fetchall())
    lines: dict[str, OfficerLine] = {}

    def line(officer: str | None) -> OfficerLine:
        key = officer or NO_OFFICER
        if key not in lines:
            lines[key] = OfficerLine(units.get(officer, NO_UNIT), key)
        return lines[key]

    for officer, clips, seconds, delay_total, delay_max, late in raw.execute(CLIPS_SQL, bounds):
        o = line(officer)
        o.clips, o.recorded_s, o.late = clips, seconds, late
        o.handover_total_s, o.handover_max_s = delay_total, delay_max
    for officer, code, is_unexplained, n in raw.execute(INTERRUPTIONS_SQL, bounds):
        o = line(officer)
        pair = o.by_reason.setdefault(messages.REASON_NAMES.get(code, f"reason {code}"), [0, 0])
        pair[1 if is_unexplained else 0] += n
        if is_unexplained:
            o.unexplained += n
        else:
            o.explained += n
    for officer, n in raw.execute(EXEMPTIONS_SQL, bounds):
        line(officer).exemptions = n
    if _has_table(raw, "viewings"):
        for officer, n in raw.execute(VIEWINGS_SQL, bounds):
            line(officer).viewings = n
    if _has_table(raw, "requests"):
        for officer, n in raw.execute(EXPORTS_SQL, bounds):
            line(officer).exports = n
    for officer, is_intact, n in raw.execute(FIXITY_SQL, bounds):
        if is_intact:
            line(officer).fixity_intact += n
        else:
            line(officer).fixity_failed += n
    for officer, passed, answers in raw.execute(SCORES_SQL, bounds):
        o = line(officer)
        o.sample_passed, o.sample_answers = passed, answers
    ordered = sorted(lines.values(), key=lambda o: (o.unit, o.officer))
    return PeriodReport(start, end, ordered)


def quarter_of(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar quarter (UTC) before the one `moment` falls in: the default period."""
    first_month = 3 * ((moment.month - 1) // 3) + 1
    end = datetime(moment.year, first_month, 1, tzinfo=UTC)
    start_month = first_month - 3
    start = (
        datetime(moment.year - 1, start_month + 12, 1, tzinfo=UTC)
        if start_month < 1
        else datetime(moment.year, start_month, 1, tzinfo=UTC)
    )
    return start, end

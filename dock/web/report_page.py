"""The period report in the pages: the numbers per unit and officer, the charts, the CSV.

The same numbers and charts as `dock period-report` (dock.period_report), built on request
for the quarter before today or for the period asked; read by those who may read the
registers (the office director, the leader, the auditor).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from starlette.responses import Response
from starlette.routing import Route

from dock.errors import DockError
from dock.i18n import t
from dock.people.roles import Permission, require
from dock.period_report import numbers, render
from dock.period_report.numbers import PeriodReport
from dock.web.site import Ask, page


class BadPeriod(DockError):
    """The period asked for cannot be read as two dates, the first before the second."""


@contextmanager
def _records(ask: Ask) -> Iterator[sqlite3.Connection]:
    from dock.db.database import DB_FILE_NAME

    raw = sqlite3.connect(f"file:{ask.site.data_dir / DB_FILE_NAME}?mode=ro", uri=True)
    try:
        yield raw
    finally:
        raw.close()


def _date(text: str, name: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise BadPeriod(t("{name} must be a date like 2026-10-01", name=name)) from None


def _report(ask: Ask) -> PeriodReport:
    require(ask.actor, Permission.READ_REGISTER)
    start, end = numbers.quarter_of(ask.site.clock.now_utc())
    if ask.form.get("since"):
        start = _date(ask.form["since"], "since")
    if ask.form.get("until"):
        end = _date(ask.form["until"], "until")
    if start >= end:
        raise BadPeriod(t("since must be before until"))
    with _records(ask) as raw:
        return numbers.build_report(raw, start, end)


def _period_query(report: PeriodReport) -> str:
    return f"since={report.start_utc:%Y-%m-%d}&until={report.end_utc:%Y-%m-%d}"


def report_page(ask: Ask) -> Response:
    report = _report(ask)
    return ask.render(
        "report.html",
        report=report,
        header=render.CSV_HEADER,
        rows=[render.row_of(line) for line in report.lines],
        charts=list(render.charts(report)),
        query=_period_query(report),
    )


def report_csv(ask: Ask) -> Response:
    report = _report(ask)
    name = f"period-report-{report.start_utc:%Y%m%d}-{report.end_utc:%Y%m%d}.csv"
    return Response(
        render.to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def report_chart(ask: Ask) -> Response:
    report = _report(ask)
    figures = render.charts(report)
    name = ask.request.path_params["name"]
    if name not in figures:
        raise BadPeriod(t("no chart {name}: the report has {names}", name=name,
                          names=", ".join(figures)))  # fmt: skip
    return Response(render.png_bytes(figures[name]), media_type="image/png")


ROUTES = [
    Route("/report", page(report_page)),
    Route("/report.csv", page(report_csv)),
    Route("/report/{name:str}.png", page(report_chart)),
]
NAV = [("/report", "Period report")]

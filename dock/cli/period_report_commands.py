"""`dock period-report`: the quarter's (or any period's) numbers as CSV, HTML and PDF.

Named apart from `dock report`, which is reporting to the central registry over MQTT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dock.cli.common import app, one_line_errors, open_records, utc_now
from dock.cli.interruption_commands import BadTime, parse_utc


@app.command("period-report")
@one_line_errors
def period_report_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder for the CSV, PNGs, HTML, PDF.")],
    since: Annotated[
        str | None, typer.Option("--since", help="From (UTC); default: the last quarter.")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before (UTC).")] = None,
) -> None:
    """Per unit and officer: clips, hours, hand-overs, interruptions, audits, fixity."""
    from dock.period_report import numbers, render

    start, end = numbers.quarter_of(utc_now())
    if since is not None:
        start = parse_utc(since, "--since")
    if until is not None:
        end = parse_utc(until, "--until")
    if start >= end:
        raise BadTime("--since must be before --until")
    with open_records(ctx) as raw:
        report = numbers.build_report(raw, start, end)
    for path in render.write_all(report, out):
        typer.echo(str(path))

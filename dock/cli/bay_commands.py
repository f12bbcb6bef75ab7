"""`dock serve|bays|check|offload`: the running service and its bays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dock import follow, journal
from dock.cli.common import (
    app,
    one_line_errors,
    open_transaction,
    settings_of,
    show,
    when,
)
from dock.db import open_database
from dock.errors import DockError

# -- bays and the service ---------------------------------------------------------------------
# Added with issue 4's service: `dock serve`, `dock bays`, `dock check BAY`, `dock device pair`.

CHECK_WAIT_S = 30.0
OFFLOAD_WAIT_S = 3600.0  # a full card over USB 2.0 takes many minutes


@app.command("serve")
@one_line_errors
def serve_command(
    ctx: typer.Context,
    simulate: Annotated[
        int,
        typer.Option(
            "--simulate",
            min=0,
            max=16,
            hidden=True,
            help="Development: N simulated recorders in bays 1..N instead of USB hot-plug.",
        ),
    ] = 0,
) -> None:
    """Run the bays until SIGTERM or Ctrl-C (the systemd unit runs this)."""
    import logging

    from dock.main import configure_logging, serve

    # Simulated bays print their verdicts; the state moves are in `dock journal`.
    configure_logging(logging.WARNING if simulate else logging.INFO)
    serve(settings_of(ctx), simulate=simulate, echo=lambda line: typer.echo(line))


@app.command("bays")
@one_line_errors
def bays_command(ctx: typer.Context) -> None:
    """List the bays and their states (from the database; works without the service)."""
    from sqlalchemy import select

    from dock.db.models import Bay

    settings = settings_of(ctx)
    with open_transaction(ctx) as session:
        rows = {row.number: row for row in session.scalars(select(Bay))}
    table = Table("bay", "state", "device", "reason", "updated")
    table.columns[4].no_wrap = True
    for number in sorted(set(rows) | set(range(1, settings.bays.count + 1))):
        row = rows.get(number)
        if row is None:
            table.add_row(str(number), "empty", "", "", "")
        else:
            reason = row.reason if row.reason != row.state.upper() else ""
            updated = when(row.updated_at)
            table.add_row(str(number), row.state, row.device_serial or "", reason, updated)
    show(table)


@app.command("check")
@one_line_errors
def check_command(
    ctx: typer.Context,
    bay: Annotated[int, typer.Argument(min=1, help="The bay number.")],
    wait_s: Annotated[
        float, typer.Option("--wait-s", min=1, help="How long to wait for the verdict.")
    ] = CHECK_WAIT_S,
) -> None:
    """Run the pre-shift check again on a docked recorder; exit 0 READY, 1 NOT READY."""
    outcome = _recheck_and_follow(ctx, bay, wait_s)
    _say_verdict(bay, outcome, f"no verdict within {wait_s:g} s")


def _recheck_and_follow(
    ctx: typer.Context,
    bay: int,
    wait_s: float,
    on_row: Callable[[journal.JournalEntry], None] | None = None,
) -> tuple[str, list[str]] | None:
    """Ask the service to go through the bay's docking again; follow it in the journal."""
    from dock import control

    settings = settings_of(ctx)
    db = open_database(settings.dock.data_dir)
    try:
        cursor = follow.journal_cursor(db)
        control.request(settings.dock.data_dir, {"op": "recheck", "bay": bay})
        for row in follow.rows_for_bay(db, bay, cursor, wait_s):
            if on_row is not None:
                on_row(row)
            if (outcome := follow.outcome_of(row)) is not None:
                return outcome
    finally:
        db.close()
    return None


def _say_verdict(bay: int, outcome: tuple[str, list[str]] | None, missing: str) -> None:
    """READY (exit 0) or NOT READY with every reason (exit 1), as the journal recorded it."""
    if outcome is None:
        raise DockError(f"bay {bay}: {missing}; see `dock journal`")
    word, reasons = outcome
    typer.echo(word)
    for reason in reasons:
        typer.echo(f"  - {reason}")
    if word != "READY":
        raise typer.Exit(1)


@app.command("offload")
@one_line_errors
def offload_command(
    ctx: typer.Context,
    bay: Annotated[int, typer.Argument(min=1, help="The bay number.")],
    wait_s: Annotated[
        float, typer.Option("--wait-s", min=1, help="How long to wait for the offload.")
    ] = OFFLOAD_WAIT_S,
) -> None:
    """Offload the recorder in BAY now and show its progress; exit 0 when it ends READY."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (
        TextColumn(f"bay {bay}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[clips]}"),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("offload", total=None, clips="")
        seen_offload = []

        def show_row(row: journal.JournalEntry) -> None:
            data = row.data
            if row.type == "offload.started":
                seen_offload.append(row)
            if row.type == "offload.progress":
                progress.update(
                    task,
                    total=data["total_bytes"],
                    completed=data["done_bytes"],
                    clips=f"{data['done_clips']}/{data['total_clips']} clips",
                )
            elif row.type in ("clip.quarantined", "clip.verification_failed"):
                progress.console.print(f"  {data['reason']}")

        outcome = _recheck_and_follow(ctx, bay, wait_s, show_row)
        if not seen_offload:
            progress.update(task, total=0, clips="nothing was offloaded")
    _say_verdict(bay, outcome, f"the offload did not end within {wait_s:g} s")

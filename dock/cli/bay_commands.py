"""`dock serve|bays|check|offload`: the running service and its bays."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dock.cli.common import (
    NoDockData,
    app,
    one_line_errors,
    open_records,
    plain_table,
    require_records,
    settings_of,
    when,
)
from dock.clock import stored_time
from dock.errors import DockError

if TYPE_CHECKING:
    from dock import journal

# -- bays and the service ---------------------------------------------------------------------
# Added with the service: `dock serve`, `dock bays`, `dock check BAY`, `dock device pair`.

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
def bays_command(
    ctx: typer.Context,
    watch: Annotated[
        bool, typer.Option("--watch", help="Draw each bay's light, state and prompt live.")
    ] = False,
) -> None:
    """List the bays and their states (from the database; works without the service)."""
    settings = settings_of(ctx)
    if watch:  # until Ctrl-C; rich's live view only here
        from dock.cli.bays_watch import watch as watch_bays

        data_dir = settings.dock.data_dir
        watch_bays(require_records(data_dir), data_dir, settings.bays.count)
        return
    try:
        with open_records(ctx) as raw:
            rows = {
                number: (state, reason, device, updated)
                for number, state, reason, device, updated in raw.execute(
                    "SELECT number, state, reason, device_serial, updated_at FROM bays"
                )
            }
    except NoDockData:
        rows = {}  # nothing docked here yet: every configured bay is empty
    lines: list[tuple[str, ...]] = []
    for number in sorted(set(rows) | set(range(1, settings.bays.count + 1))):
        if number not in rows:
            lines.append((str(number), "empty", "", "", ""))
            continue
        state, reason, device, updated = rows[number]
        reason = reason if reason != state.upper() else ""
        lines.append((str(number), state, device or "", reason, when(stored_time(updated))))
    typer.echo(plain_table(("bay", "state", "device", "reason", "updated"), lines))


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
    with _recheck(ctx, bay) as (raw, cursor):
        outcome = _follow(raw, bay, cursor, wait_s)
    _say_verdict(bay, outcome, f"no verdict within {wait_s:g} s")


@contextmanager
def _recheck(ctx: typer.Context, bay: int) -> Iterator[tuple[sqlite3.Connection, int]]:
    """Ask the service to go through the bay's docking again, once it has accepted.

    Yields the journal and the cursor from which the bay's rows answer the request.
    """
    from dock import control, follow

    settings = settings_of(ctx)
    try:
        require_records(settings.dock.data_dir)
    except NoDockData:
        raise control.ServiceNotRunning() from None  # a running service has its database
    with open_records(ctx) as raw:
        cursor = follow.journal_cursor(raw)
        control.request(settings.dock.data_dir, {"op": "recheck", "bay": bay})
        yield raw, cursor


def _follow(
    raw: sqlite3.Connection,
    bay: int,
    cursor: int,
    wait_s: float,
    on_row: Callable[[journal.JournalEntry], None] | None = None,
) -> tuple[str, list[str]] | None:
    """The bay's rows until its verdict, or until it settles without one (None: timeout)."""
    from dock import follow

    for row in follow.rows_for_bay(raw, bay, cursor, wait_s):
        if on_row is not None:
            on_row(row)
        if (outcome := follow.outcome_of(row)) is not None:
            return outcome
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
    word: Annotated[
        str,
        typer.Argument(
            metavar="[confirm] BAY",
            help="The bay number; `confirm BAY` confirms a two-person offload waiting there.",
        ),
    ],
    confirm_bay: Annotated[int | None, typer.Argument(hidden=True)] = None,
    wait_s: Annotated[
        float, typer.Option("--wait-s", min=1, help="How long to wait for the offload.")
    ] = OFFLOAD_WAIT_S,
    user: Annotated[
        str | None, typer.Option("--user", help="confirm: your staff user name.")
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help="confirm: your password from this file (- stdin)."),
    ] = None,
) -> None:
    """Offload the recorder in BAY now and show its progress; exit 0 when it ends READY.

    `dock offload confirm BAY --user NAME`: one of the two staff a two-person offload
    ([people] two_person_offload) waits for; the second different person starts it."""
    if word == "confirm":
        from dock.cli.offload_commands import confirm_offload

        confirm_offload(ctx, confirm_bay, user, password_file)
        return
    if not word.isdigit() or int(word) < 1 or confirm_bay is not None:
        raise DockError(f"{word!r} is not a bay: give `dock offload BAY` or `confirm BAY`")
    bay = int(word)
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (
        TextColumn(f"bay {bay}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[clips]}"),
    )
    # The bar appears only once the service has accepted the request: a refusal (no
    # service, empty bay) is one line, not a bar that was never going to move.
    with (
        _recheck(ctx, bay) as (raw, cursor),
        Progress(*columns, console=Console(stderr=True)) as progress,
    ):
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

        outcome = _follow(raw, bay, cursor, wait_s, show_row)
        if not seen_offload:
            progress.update(task, total=0, clips="nothing was offloaded")
    _say_verdict(bay, outcome, f"the offload did not end within {wait_s:g} s")

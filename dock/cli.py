"""`dock ...`: the custodian's and technician's commands.

Every expected failure (a DockError) prints one line and exits 1; a traceback means a bug.
Each change runs in one transaction with its journal row, through the same ledger functions
the service uses, so the CLI and the service cannot disagree about what a change means.
"""

from __future__ import annotations

import functools
import os
import pwd
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from dock import follow, journal, ledger
from dock.clock import SystemClock
from dock.config import Settings, load_settings, settings_as_table
from dock.db import open_database
from dock.errors import DockError

app = typer.Typer(
    help="Body-camera docking station.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
officer_app = typer.Typer(help="Officers (警号, name, unit).", no_args_is_help=True)
device_app = typer.Typer(help="Recorders in the ledger (台账).", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident journal.", no_args_is_help=True)
config_app = typer.Typer(help="The dock's configuration file.", no_args_is_help=True)
app.add_typer(officer_app, name="officer")
app.add_typer(device_app, name="device")
app.add_typer(audit_app, name="audit")
app.add_typer(config_app, name="config")

# Room for the commands other parts add, registered on `app` (or `device_app`) here:
#   dock bays            -- list the bays and their states (dock.bays)
#   dock check BAY       -- run the pre-shift check on a bay (dock.bays / dock.check)
#   dock serve           -- run the bays until SIGTERM (dock.main)
#   dock offload BAY     -- offload a bay with progress bars (dock.offload)
#   dock device pair BAY -- write the pairing key and identity over the link
#                           (ledger.pair_recorder, ledger.write_identity_to_recorder)

F = TypeVar("F", bound=Callable[..., Any])
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="The dock's TOML file (default: $DOCK_CONFIG, else built-in)."),
]


def one_line_errors(command: F) -> F:
    """Print an expected failure as one line on stderr and exit 1, without a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DockError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        except OperationalError as error:
            reason = str(error.orig).splitlines()[0] if error.orig else "unknown"
            typer.echo(f"error: database: {reason}; check dock.data_dir and retry", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(ctx: typer.Context, config: ConfigOption = None) -> None:
    ctx.obj = config


def _settings(ctx: typer.Context) -> Settings:
    return load_settings(ctx.find_root().obj)


@contextmanager
def _transaction(ctx: typer.Context) -> Iterator[Session]:
    db = open_database(_settings(ctx).dock.data_dir)
    try:
        with db.transaction() as session:
            yield session
    finally:
        db.close()


def _actor() -> str:
    return "cli:" + pwd.getpwuid(os.getuid()).pw_name


def _now() -> datetime:
    return SystemClock().now_utc()


def _print(*renderables: Any) -> None:
    Console().print(*renderables)


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else ""


# -- officers ---------------------------------------------------------------------------------


@officer_app.command("add")
@one_line_errors
def officer_add(
    ctx: typer.Context,
    officer_number: Annotated[str, typer.Argument(help="The officer's number (警号).")],
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    unit_number: Annotated[str, typer.Option("--unit-number")] = "",
    unit_name: Annotated[str, typer.Option("--unit-name")] = "",
) -> None:
    """Register an officer."""
    with _transaction(ctx) as session:
        ledger.register_officer(
            session,
            officer_number=officer_number,
            name=name,
            unit_number=unit_number,
            unit_name=unit_name,
            actor=_actor(),
            at=_now(),
        )
    _print(f"officer {officer_number} ({name}) registered")


@officer_app.command("list")
@one_line_errors
def officer_list(ctx: typer.Context) -> None:
    """List the registered officers."""
    from sqlalchemy import select

    from dock.db.models import Officer

    with _transaction(ctx) as session:
        officers = list(session.scalars(select(Officer).order_by(Officer.officer_number)))
    table = Table("警号", "name", "unit number", "unit")
    for o in officers:
        table.add_row(o.officer_number, o.name, o.unit_number, o.unit_name)
    _print(table)


# -- devices ----------------------------------------------------------------------------------


@device_app.command("register")
@one_line_errors
def device_register(
    ctx: typer.Context,
    serial: Annotated[str, typer.Argument(help="The recorder's serial number.")],
    model: Annotated[str, typer.Option("--model")] = "",
    firmware: Annotated[str, typer.Option("--firmware", help="Firmware version.")] = "",
) -> None:
    """Register a recorder with a fresh pairing key (written to it when it is paired)."""
    with _transaction(ctx) as session:
        ledger.register_device(
            session,
            serial=serial,
            model=model,
            firmware_version=firmware,
            actor=_actor(),
            at=_now(),
        )
    _print(f"recorder {serial} registered; dock it to pair it")


@device_app.command("assign")
@one_line_errors
def device_assign(
    ctx: typer.Context,
    serial: Annotated[str, typer.Argument()],
    officer_number: Annotated[str, typer.Argument(help="The officer's number (警号).")],
) -> None:
    """Assign a recorder to the one officer responsible for it."""
    with _transaction(ctx) as session:
        ledger.assign(session, serial, officer_number, actor=_actor(), at=_now())
    _print(f"recorder {serial} assigned to officer {officer_number}")


@device_app.command("repair")
@one_line_errors
def device_repair(
    ctx: typer.Context,
    serial: Annotated[str, typer.Argument()],
    done: Annotated[bool, typer.Option("--done", help="Back in service.")] = False,
    retire: Annotated[bool, typer.Option("--retire", help="Out of service for good.")] = False,
    note: Annotated[str, typer.Option("--note")] = "",
) -> None:
    """Mark a recorder under repair (or back in service with --done, or retired)."""
    if done and retire:
        raise typer.BadParameter("use --done or --retire, not both")
    state = "in_service" if done else "retired" if retire else "under_repair"
    with _transaction(ctx) as session:
        ledger.set_maintenance(session, serial, state, note=note, actor=_actor(), at=_now())
    _print(f"recorder {serial}: {state.replace('_', ' ')}")


@device_app.command("list")
@one_line_errors
def device_list(ctx: typer.Context) -> None:
    """List the registered recorders with their officer and holder."""
    table = Table(
        "serial", "model", "firmware", "paired", "maintenance", "assigned to", "issued to"
    )
    with _transaction(ctx) as session:
        for d in ledger.list_devices(session):
            officer = ledger.assigned_officer(session, d.serial)
            holder = ledger.current_holder(session, d.serial)
            table.add_row(
                d.serial,
                d.model,
                d.firmware_version,
                "yes" if d.is_paired else "no",
                d.maintenance_state.replace("_", " "),
                f"{officer.officer_number} {officer.name}" if officer else "",
                f"{holder.officer_number} {holder.name}" if holder else "",
            )
    _print(table)


@device_app.command("show")
@one_line_errors
def device_show(ctx: typer.Context, serial: Annotated[str, typer.Argument()]) -> None:
    """Show one recorder and its recent ledger history."""
    with _transaction(ctx) as session:
        d = ledger.get_device(session, serial)
        officer = ledger.assigned_officer(session, serial)
        holder = ledger.current_holder(session, serial)
        history = ledger.device_history(session, serial, limit=20)
    facts = Table.grid(padding=(0, 2))
    for key, value in [
        ("serial", d.serial),
        ("model", d.model),
        ("firmware", d.firmware_version),
        ("paired", "yes" if d.is_paired else "no"),
        ("maintenance", d.maintenance_state.replace("_", " ")),
        ("registered", _when(d.registered_at)),
        ("assigned to", f"{officer.officer_number} {officer.name}" if officer else "nobody"),
        ("issued to", f"{holder.officer_number} {holder.name}" if holder else "in the dock"),
    ]:
        facts.add_row(key, value)
    _print(facts, _journal_table(history))


# -- ledger and journal -----------------------------------------------------------------------


@app.command("ledger")
@one_line_errors
def ledger_command(
    ctx: typer.Context,
    serial: Annotated[str | None, typer.Argument(help="One recorder's history.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 200,
) -> None:
    """The ledger: issue, return, assignment and maintenance history."""
    with _transaction(ctx) as session:
        if serial is not None:
            rows = ledger.device_history(session, serial, limit=limit)
        else:
            rows = ledger.history(session, limit=limit)
    _print(_journal_table(rows))


@app.command("journal")
@one_line_errors
def journal_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many of the newest rows.")] = 20,
) -> None:
    """The newest journal rows."""
    with _transaction(ctx) as session:
        rows = journal.latest(session, limit=limit)
    _print(_journal_table(rows))


def _journal_table(rows: list[journal.JournalEntry]) -> Table:
    table = Table("#", "time (UTC)", "event", "actor", "bay", "device", "details")
    for column in table.columns[:4]:
        column.no_wrap = True
    for r in rows:
        details = ", ".join(f"{k}={v}" for k, v in r.data.items() if v not in (None, "", []))
        bay = "" if r.bay is None else str(r.bay)
        table.add_row(str(r.id), _when(r.at_utc), r.type, r.actor, bay, r.device or "", details)
    return table


@audit_app.command("verify")
@one_line_errors
def audit_verify(ctx: typer.Context) -> None:
    """Walk the journal's hash chain; exit 1 naming the first broken row."""
    with _transaction(ctx) as session:
        result = journal.verify(session)
    if not result.is_intact:
        typer.echo(result.summary(), err=True)
        raise typer.Exit(1)
    typer.echo(result.summary())


# -- configuration ----------------------------------------------------------------------------


@config_app.command("check")
@one_line_errors
def config_check(ctx: typer.Context) -> None:
    """Load and validate the configuration; print the effective settings."""
    settings = _settings(ctx)
    table = Table("key", "value")
    for section, values in settings_as_table(settings).items():
        for key, value in values.items():
            table.add_row(f"{section}.{key}", repr(value) if isinstance(value, str) else str(value))
    source = settings.source or "built-in defaults"
    _print(table)
    typer.echo(f"config OK: {source}")


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
    serve(_settings(ctx), simulate=simulate, echo=lambda line: typer.echo(line))


@app.command("bays")
@one_line_errors
def bays_command(ctx: typer.Context) -> None:
    """List the bays and their states (from the database; works without the service)."""
    from sqlalchemy import select

    from dock.db.models import Bay

    settings = _settings(ctx)
    with _transaction(ctx) as session:
        rows = {row.number: row for row in session.scalars(select(Bay))}
    table = Table("bay", "state", "device", "reason", "updated")
    table.columns[4].no_wrap = True
    for number in sorted(set(rows) | set(range(1, settings.bays.count + 1))):
        row = rows.get(number)
        if row is None:
            table.add_row(str(number), "empty", "", "", "")
        else:
            reason = row.reason if row.reason != row.state.upper() else ""
            updated = _when(row.updated_at)
            table.add_row(str(number), row.state, row.device_serial or "", reason, updated)
    _print(table)


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
    from dock import control

    settings = _settings(ctx)
    db = open_database(settings.dock.data_dir)
    outcome = None
    try:
        cursor = follow.journal_cursor(db)
        control.request(settings.dock.data_dir, {"op": "recheck", "bay": bay})
        for row in follow.rows_for_bay(db, bay, cursor, wait_s):
            if (outcome := follow.outcome_of(row)) is not None:
                break
    finally:
        db.close()
    _say_verdict(bay, outcome, f"no verdict within {wait_s:g} s")


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

    from dock import control

    settings = _settings(ctx)
    db = open_database(settings.dock.data_dir)
    outcome = None
    try:
        cursor = follow.journal_cursor(db)
        control.request(settings.dock.data_dir, {"op": "recheck", "bay": bay})
        columns = (
            TextColumn(f"bay {bay}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[clips]}"),
        )
        with Progress(*columns, console=Console(stderr=True)) as progress:
            task = progress.add_task("offload", total=None, clips="")
            for row in follow.rows_for_bay(db, bay, cursor, wait_s):
                if row.type == "offload.progress":
                    data = row.data
                    progress.update(
                        task,
                        total=data["total_bytes"],
                        completed=data["done_bytes"],
                        clips=f"{data['done_clips']}/{data['total_clips']} clips",
                    )
                elif row.type in ("clip.quarantined", "clip.verification_failed"):
                    progress.console.print(f"  {row.data['reason']}")
                if (outcome := follow.outcome_of(row)) is not None:
                    break
    finally:
        db.close()
    _say_verdict(bay, outcome, f"the offload did not end within {wait_s:g} s")


@device_app.command("pair")
@one_line_errors
def device_pair(
    ctx: typer.Context,
    serial: Annotated[str, typer.Argument(help="The registered recorder's serial number.")],
    port: Annotated[str, typer.Option("--port", help="Its serial port, e.g. /dev/ttyACM0.")],
) -> None:
    """Write the pairing key (and the officer's identity, once assigned) to a recorder."""
    from dock.pairing import pair_over_link
    from firmware_bridge.client import RecorderClient
    from firmware_bridge.errors import LinkError

    settings = _settings(ctx)
    db = open_database(settings.dock.data_dir)
    try:
        with RecorderClient.open(
            port, timeout_s=settings.link.timeout_s, retries=settings.link.retries
        ) as client:
            identity = pair_over_link(db, client, serial, actor=_actor(), clock=SystemClock())
    except LinkError as error:
        raise DockError(f"recorder on {port}: {error}") from None
    finally:
        db.close()
    if identity is None:
        _print(f"recorder {serial} paired; assign it to an officer, then pair again to write it")
    else:
        _print(
            f"recorder {serial} paired; identity written: "
            f"{identity.officer_number} {identity.officer_name}"
        )


if __name__ == "__main__":
    app()

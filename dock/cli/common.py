"""What every `dock` command shares: the app, its options, one-line errors, the database.

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

from dock import journal
from dock.clock import SystemClock
from dock.config import Settings, load_settings
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


def settings_of(ctx: typer.Context) -> Settings:
    return load_settings(ctx.find_root().obj)


@contextmanager
def open_transaction(ctx: typer.Context) -> Iterator[Session]:
    db = open_database(settings_of(ctx).dock.data_dir)
    try:
        with db.transaction() as session:
            yield session
    finally:
        db.close()


def cli_actor() -> str:
    return "cli:" + pwd.getpwuid(os.getuid()).pw_name


def utc_now() -> datetime:
    return SystemClock().now_utc()


def show(*renderables: Any) -> None:
    Console().print(*renderables)


def when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else ""


def journal_table(rows: list[journal.JournalEntry]) -> Table:
    table = Table("#", "time (UTC)", "event", "actor", "bay", "device", "details")
    for column in table.columns[:4]:
        column.no_wrap = True
    for r in rows:
        details = ", ".join(f"{k}={v}" for k, v in r.data.items() if v not in (None, "", []))
        bay = "" if r.bay is None else str(r.bay)
        table.add_row(str(r.id), when(r.at_utc), r.type, r.actor, bay, r.device or "", details)
    return table

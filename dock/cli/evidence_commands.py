"""`dock ledger|journal|audit|clips|quarantine|store|config`: what the dock has recorded."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from dock import journal, ledger
from dock.cli.common import (
    app,
    audit_app,
    cli_actor,
    config_app,
    journal_table,
    one_line_errors,
    open_transaction,
    settings_of,
    show,
    when,
)
from dock.clock import SystemClock
from dock.config import settings_as_table
from dock.db import open_database
from dock.db.models import Clip, Quarantined
from dock.offload.fixity import verify_store
from dock.offload.store import EvidenceStore, StoreError

store_app = typer.Typer(help="The evidence store's objects.", no_args_is_help=True)
app.add_typer(store_app, name="store")

# -- ledger and journal -----------------------------------------------------------------------


@app.command("ledger")
@one_line_errors
def ledger_command(
    ctx: typer.Context,
    serial: Annotated[str | None, typer.Argument(help="One recorder's history.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 200,
) -> None:
    """The ledger: issue, return, assignment and maintenance history."""
    with open_transaction(ctx) as session:
        if serial is not None:
            rows = ledger.device_history(session, serial, limit=limit)
        else:
            rows = ledger.history(session, limit=limit)
    show(journal_table(rows))


@app.command("journal")
@one_line_errors
def journal_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many of the newest rows.")] = 20,
) -> None:
    """The newest journal rows."""
    with open_transaction(ctx) as session:
        rows = journal.latest(session, limit=limit)
    show(journal_table(rows))


@audit_app.command("verify")
@one_line_errors
def audit_verify(ctx: typer.Context) -> None:
    """Walk the journal's hash chain; exit 1 naming the first broken row."""
    with open_transaction(ctx) as session:
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
    settings = settings_of(ctx)
    table = Table("key", "value")
    for section, values in settings_as_table(settings).items():
        for key, value in values.items():
            table.add_row(f"{section}.{key}", repr(value) if isinstance(value, str) else str(value))
    source = settings.source or "built-in defaults"
    show(table)
    typer.echo(f"config OK: {source}")


# -- the evidence store -----------------------------------------------------------------------


@app.command("clips")
@one_line_errors
def clips_command(
    ctx: typer.Context,
    device: Annotated[str | None, typer.Option("--device", help="One recorder's clips.")] = None,
    late: Annotated[
        bool, typer.Option("--late", help="Only clips stored after the hand-over limit.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 200,
) -> None:
    """Stored clips with their classification, newest first; late ones are marked."""
    query = select(Clip).order_by(Clip.stored_at_utc.desc(), Clip.id.desc()).limit(limit)
    if device is not None:
        query = query.where(Clip.device_serial == device)
    if late:
        query = query.where(Clip.is_late.is_(True))
    table = Table(
        "recorded (UTC)", "device", "officer", "source", "size", "sha256", "verified", "flags"
    )
    with open_transaction(ctx) as session:
        for clip in session.scalars(query):
            flags = [
                f
                for f, on in (
                    ("late", clip.is_late),
                    ("important", clip.is_important),
                    ("not-listed", not clip.is_listed),
                    ("card-disagrees", bool(clip.metadata_disagreements)),
                )
                if on
            ]
            verified = clip.verification
            if clip.verification == "not_verified":
                verified += f": {clip.verification_reason}"
            table.add_row(
                when(clip.recorded_start_utc),
                clip.device_serial,
                clip.officer_number or "",
                clip.source_path,
                f"{clip.size_bytes:,}",
                clip.sha256[:16] + "…",
                verified,
                " ".join(flags),
            )
    show(table)


@app.command("quarantine")
@one_line_errors
def quarantine_command(
    ctx: typer.Context, limit: Annotated[int, typer.Option("--limit", min=1)] = 200
) -> None:
    """Files left on recorders because they could not be taken in safely, and why."""
    query = select(Quarantined).order_by(Quarantined.id.desc()).limit(limit)
    table = Table("when (UTC)", "device", "bay", "kind", "why")
    with open_transaction(ctx) as session:
        for row in session.scalars(query):
            bay = "" if row.bay is None else str(row.bay)
            table.add_row(when(row.at_utc), row.device_serial, bay, row.code, row.reason)
    show(table)


@store_app.command("verify")
@one_line_errors
def store_verify(
    ctx: typer.Context,
    share: Annotated[
        float,
        typer.Option(
            "--share",
            min=0.001,
            max=1.0,
            help="Re-hash this share of the objects, those checked longest ago first.",
        ),
    ] = 1.0,
) -> None:
    """Re-hash the evidence store's objects; exit 1 naming every missing or changed one."""
    settings = settings_of(ctx)
    root = settings.dock.data_dir / "store"
    if not (root / "objects").is_dir():
        raise StoreError(f"no evidence store at {root}: check dock.data_dir in the config")
    store = EvidenceStore(root, reserve_bytes=0, sweeps_temp_files=False)
    db = open_database(settings.dock.data_dir)
    try:
        report = verify_store(db, store, SystemClock(), share=share, actor=cli_actor())
    finally:
        db.close()
    for problem in report.problems:
        typer.echo(problem.line(), err=True)
    if not report.is_intact:
        typer.echo(report.summary(), err=True)
        raise typer.Exit(1)
    typer.echo(report.summary())

"""`dock ledger|journal|audit|clips|quarantine|store|config`: what the dock has recorded."""

from __future__ import annotations

from typing import Annotated

import typer

from dock.cli.common import (
    app,
    audit_app,
    cli_actor,
    config_app,
    journal_table,
    one_line_errors,
    open_records,
    open_transaction,
    require_records,
    settings_of,
    show,
    table,
    utc_now,
    when,
)

# One screen: drawing the table costs more than reading the page (a few ms on its index).
CLIPS_PAGE = 50

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
    from dock import ledger

    require_records(settings_of(ctx).dock.data_dir)
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
    from dock import journal

    with open_records(ctx) as raw:
        rows = journal.latest(raw, limit=limit)
    show(journal_table(rows))


@audit_app.command("verify")
@one_line_errors
def audit_verify(
    ctx: typer.Context,
    full: Annotated[
        bool, typer.Option("--full", help="From the first row, not from the last checkpoint.")
    ] = False,
    against_registry: Annotated[
        str, typer.Option("--against-registry", help="Also compare with the registry at URL.")
    ] = "",
) -> None:
    """Walk the journal's hash chain from the last verified row; exit 1 naming the first break.

    Each intact verify records where it ended, so the next one checks only what was added;
    `--full` walks the whole chain (an edit before the last checkpoint is found only so).
    """
    from dock import journal

    with open_records(ctx) as raw:
        since = None if full else journal.last_checkpoint(raw)
        result = journal.verify(raw, since)
        if result.is_intact:
            raw.execute("BEGIN IMMEDIATE")
            journal.record_checkpoint(raw, result, is_full=since is None, at=utc_now())
            raw.execute("COMMIT")
    if not result.is_intact:
        typer.echo(result.summary(), err=True)
        raise typer.Exit(1)
    typer.echo(result.summary())
    if against_registry:
        _verify_against_registry(ctx, against_registry)


def _verify_against_registry(ctx: typer.Context, url: str) -> None:
    """A truncated tail or a recomputed chain verifies locally; the registry's copy does not."""
    import httpx

    from dock import anchor_check, journal

    with open_records(ctx) as raw:
        entries = journal.read_after(raw, 0, limit=10_000_000)
    try:
        held = list(anchor_check.held_hashes(url, settings_of(ctx).dock.dock_id))
    except httpx.HTTPError as error:
        typer.echo(f"cannot read the registry at {url}: {error}; check the URL", err=True)
        raise typer.Exit(2) from None
    check = anchor_check.compare(entries, held)
    if not check.is_intact:
        typer.echo(f"registry: {check.first_disagreement}", err=True)
        raise typer.Exit(1)
    typer.echo(f"registry: {check.compared} row(s) agree with the registry's copy")


# -- configuration ----------------------------------------------------------------------------


@config_app.command("check")
@one_line_errors
def config_check(ctx: typer.Context) -> None:
    """Load and validate the configuration; print the effective settings."""
    from dock.config import settings_as_table

    settings = settings_of(ctx)
    out = table("key", "value")
    for section, values in settings_as_table(settings).items():
        for key, value in values.items():
            out.add_row(f"{section}.{key}", repr(value) if isinstance(value, str) else str(value))
    source = settings.source or "built-in defaults"
    show(out)
    typer.echo(f"config OK: {source}")


# -- the evidence store -----------------------------------------------------------------------


@app.command("clips")
@one_line_errors
def clips_command(
    ctx: typer.Context,
    device: Annotated[str | None, typer.Option("--device", help="One recorder's clips.")] = None,
    officer: Annotated[
        str | None, typer.Option("--officer", help="One officer's clips (警号).")
    ] = None,
    late: Annotated[
        bool, typer.Option("--late", help="Only clips stored after the hand-over limit.")
    ] = False,
    verification: Annotated[
        str | None,
        typer.Option(
            "--verification", help="Only clips verified so: device_hash, size_only, not_verified."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows to show.")] = CLIPS_PAGE,
) -> None:
    """Stored clips with their classification, newest first; late ones are marked."""
    from dock.cli.listings import clips_page

    filters = [
        (by, value)
        for by, value in (
            ("device", device),
            ("officer", officer),
            ("late", True if late else None),
            ("verification", verification),
        )
        if value is not None
    ]
    if len(filters) > 1:
        raise typer.BadParameter("list by one of --device, --officer, --late, --verification")
    by, value = filters[0] if filters else ("", None)
    out = table(
        "recorded (UTC)", "device", "officer", "source", "size", "sha256", "verified", "flags"
    )
    with open_records(ctx) as raw:
        clips = clips_page(raw, by, value, limit)
    for clip in clips:
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
        out.add_row(
            when(clip.recorded_start_utc),
            clip.device_serial,
            clip.officer_number or "",
            clip.source_path,
            f"{clip.size_bytes:,}",
            clip.sha256[:16] + "…",
            verified,
            " ".join(flags),
        )
    show(out)


@app.command("quarantine")
@one_line_errors
def quarantine_command(
    ctx: typer.Context,
    device: Annotated[str | None, typer.Option("--device", help="One recorder's files.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 200,
) -> None:
    """Files left on recorders because they could not be taken in safely, and why."""
    from dock.cli.listings import quarantine_sql
    from dock.clock import stored_time

    by = "" if device is None else "device"
    params = ([] if device is None else [device]) + [limit]
    out = table("when (UTC)", "device", "bay", "kind", "why")
    with open_records(ctx) as raw:
        rows = raw.execute(quarantine_sql(by), params).fetchall()
    for at, serial, bay, code, reason in rows:
        out.add_row(when(stored_time(at)), serial, "" if bay is None else str(bay), code, reason)
    show(out)


@store_app.command("verify")
@one_line_errors
def store_verify(
    ctx: typer.Context,
    share: Annotated[
        float | None,
        typer.Option(
            "--share",
            min=0.0001,
            max=1.0,
            help="Re-hash this share of the objects, those checked longest ago first "
            "(default: 1/(fixity.period_days*fixity.runs_per_day)).",
        ),
    ] = None,
    check_all: Annotated[
        bool, typer.Option("--all", help="Re-hash every object in the store.")
    ] = False,
) -> None:
    """Re-hash the evidence store's objects; exit 1 naming every missing or changed one."""
    from dock.clock import SystemClock
    from dock.db import open_database
    from dock.offload.central_repair import central_from_settings
    from dock.offload.fixity import scheduled_share, verify_store
    from dock.offload.store import EvidenceStore, StoreError

    settings = settings_of(ctx)
    if check_all and share is not None:
        raise typer.BadParameter("give --all or --share, not both")
    share = 1.0 if check_all else share if share is not None else scheduled_share(settings.fixity)
    root = settings.dock.data_dir / "store"
    if not (root / "objects").is_dir():
        raise StoreError(f"no evidence store at {root}: check dock.data_dir in the config")
    store = EvidenceStore(root, reserve_bytes=0, sweeps_temp_files=False)
    db = open_database(settings.dock.data_dir)
    try:
        central = central_from_settings(settings)  # repairs from the central copy, if any
        report = verify_store(
            db,
            store,
            SystemClock(),
            share=share,
            actor=cli_actor(),
            central=central,
            central_sample=settings.fixity.central_sample,
        )
    finally:
        db.close()
    for sha256 in report.repaired:
        typer.echo(f"stored object {sha256} repaired from its verified central copy")
    for problem in report.problems:
        typer.echo(problem.line(), err=True)
    sample = report.central
    for line in sample.damaged if sample else ():
        typer.echo(line, err=True)
    if sample is not None:
        said = f"central sample: {sample.checked} copy(ies) re-read, {len(sample.damaged)} bad"
        typer.echo(said + (f"; stopped: {sample.unreachable}" if sample.unreachable else ""))
    if not report.is_intact or (sample is not None and sample.damaged):
        typer.echo(report.summary(), err=True)
        raise typer.Exit(1)
    typer.echo(report.summary())

"""`dock interruptions|exemption|compliance`: interruptions of recording and who explained them.

Listings and the compliance report read through plain sqlite3, like the other listings;
changes (a note attached, a written explanation, an exemption) go through
dock.interruptions.records in one transaction with their journal row.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dock.cli.common import (
    app,
    cli_actor,
    one_line_errors,
    open_records,
    open_transaction,
    settings_of,
    show,
    table,
    utc_now,
    when,
)
from dock.errors import DockError

if TYPE_CHECKING:
    from dock.interruptions.compliance import ComplianceReport, Period
    from dock.interruptions.timeline import Interruption

interruptions_app = typer.Typer(
    help="Interruptions of recording: list them, attach a voice note, explain in writing.",
    invoke_without_command=True,
)
exemption_app = typer.Typer(help="Written records of recording legitimately skipped.")
app.add_typer(interruptions_app, name="interruptions")
app.add_typer(exemption_app, name="exemption")

DB_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how the models store an aware UTC time in SQLite
FORMATS = ("table", "json", "csv")


class BadTime(DockError):
    pass


def parse_utc(value: str, option: str) -> datetime:
    """ISO 8601 date or time; without a zone it is UTC (the dock keeps no local time)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadTime(
            f"{option} {value!r} is not a date or time: use e.g. 2026-11-23T08:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def db_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(DB_TIME)


def _from_db(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


# -- listing ----------------------------------------------------------------------------------

_COLUMNS = (
    "key, device_serial, officer_number, start_utc, end_utc, reason_code, found, status, "
    "approver, note_sha256"
)


def select_interruptions(
    raw: sqlite3.Connection,
    *,
    officer: str | None = None,
    device: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    is_unexplained_only: bool = False,
    limit: int = 100_000,
) -> list[Interruption]:
    """Interruptions by start time; since is included, until excluded."""
    from dock.interruptions.timeline import Found, Interruption, Status, reason_for

    where, params = [], []
    for column, value in (("officer_number", officer), ("device_serial", device)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("start_utc >= ?")
        params.append(db_time(since))
    if until is not None:
        where.append("start_utc < ?")
        params.append(db_time(until))
    if is_unexplained_only:
        where.append("status = ?")
        params.append(Status.UNEXPLAINED.value)
    sql = f"SELECT {_COLUMNS} FROM interruptions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY start_utc, key LIMIT ?"
    rows = raw.execute(sql, [*params, limit]).fetchall()
    found = []
    for key, serial, officer_number, start, end, code, how, status, approver, _note in rows:
        start_utc = _from_db(start)
        assert start_utc is not None
        found.append(
            Interruption(
                key=key,
                device=serial,
                officer_number=officer_number,
                start_utc=start_utc,
                end_utc=_from_db(end),
                reason=reason_for(code),
                found=Found(how),
                status=Status(status),
                approver=approver,
            )
        )
    return found


@interruptions_app.callback()
@one_line_errors
def interruptions_command(
    ctx: typer.Context,
    officer: Annotated[str | None, typer.Option("--officer", help="One officer's (警号).")] = None,
    device: Annotated[str | None, typer.Option("--device", help="One recorder's.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this UTC time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this UTC time.")] = None,
    unexplained: Annotated[
        bool, typer.Option("--unexplained", help="Only those nobody explained yet.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 200,
) -> None:
    """Interruptions of recording by start time, with how each was found and explained."""
    if ctx.invoked_subcommand is not None:
        return
    with open_records(ctx) as raw:
        found = select_interruptions(
            raw,
            officer=officer,
            device=device,
            since=None if since is None else parse_utc(since, "--since"),
            until=None if until is None else parse_utc(until, "--until"),
            is_unexplained_only=unexplained,
            limit=limit,
        )
    out = table("start (UTC)", "end", "device", "officer", "reason", "found", "status", "key")
    for i in found:
        end = when(i.end_utc) if i.end_utc is not None else "did not resume"
        status = str(i.status) + (f" ({i.approver})" if i.approver else "")
        out.add_row(
            when(i.start_utc),
            end,
            i.device,
            i.officer_number or "",
            i.reason.words(),
            str(i.found),
            status,
            i.key,
        )
    show(out)


@interruptions_app.command("attach")
@one_line_errors
def attach_command(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The interruption's key, as listed.")],
    file: Annotated[Path, typer.Argument(help="A WAV (or MP4 with sound) of the officer.")],
) -> None:
    """Attach an existing voice note: measured, stored as evidence, linked, journaled."""
    from dock.interruptions.records import explain_by_note, keep_note, require_unexplained
    from dock.interruptions.voice_note import NoteLimits, check_note
    from dock.offload.store import EvidenceStore

    settings = settings_of(ctx)
    limits = settings.interruptions
    check_note(
        file,
        NoteLimits(
            min_duration_s=limits.note_min_duration_s,
            min_voiced_s=limits.note_min_voiced_s,
            voiced_dbfs=limits.note_voiced_dbfs,
        ),
    )
    with open_transaction(ctx) as session:
        # Stored first (content-addressed, so a retry stores nothing twice), linked second.
        store = EvidenceStore(
            settings.dock.data_dir / "store",
            reserve_bytes=settings.offload.reserve_bytes,
            sweeps_temp_files=False,
        )
        require_unexplained(session, key)  # refuse before storing anything for a wrong key
        sha256 = keep_note(store, file)
        explain_by_note(session, key, sha256, actor=cli_actor(), at=utc_now())
    typer.echo(f"interruption {key} explained by voice note {sha256}")


@interruptions_app.command("explain")
@one_line_errors
def explain_command(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The interruption's key, as listed.")],
    approver: Annotated[str, typer.Option("--approver", help="Who approved it.")],
    text: Annotated[str, typer.Option("--text", help="The written explanation.")],
) -> None:
    """Explain in writing an interruption after which recording could not resume."""
    from dock.interruptions.records import explain_in_writing

    with open_transaction(ctx) as session:
        explain_in_writing(
            session, key, approver=approver, text=text, actor=cli_actor(), at=utc_now()
        )
    typer.echo(f"interruption {key} explained in writing, approved by {approver}")


# -- exemptions -------------------------------------------------------------------------------


@exemption_app.command("add")
@one_line_errors
def exemption_add(
    ctx: typer.Context,
    category: Annotated[
        str,
        typer.Option(
            "--category",
            help="state_secret, commercial_secret, personal_privacy, emergency, "
            "objective_conditions or explosion_risk_area.",
        ),
    ],
    at: Annotated[str, typer.Option("--at", help="When recording was skipped (UTC).")],
    place: Annotated[str, typer.Option("--place", help="Where.")],
    officer: Annotated[str, typer.Option("--officer", help="The officer (警号).")],
    approver: Annotated[str, typer.Option("--approver", help="The approving unit head.")],
    note: Annotated[str, typer.Option("--note", help="The work record's words.")] = "",
) -> None:
    """Record why recording was legitimately skipped, approved by the unit head."""
    from dock.interruptions.records import add_exemption

    moment = parse_utc(at, "--at")
    with open_transaction(ctx) as session:
        row = add_exemption(
            session,
            category=category,
            at_utc=moment,
            place=place,
            officer_number=officer,
            approver=approver,
            note=note,
            actor=cli_actor(),
            now=utc_now(),
        )
        number = row.id
    typer.echo(f"exemption {number} recorded: {category} at {when(moment)}, officer {officer}")


@exemption_app.command("list")
@one_line_errors
def exemption_list(
    ctx: typer.Context,
    officer: Annotated[str | None, typer.Option("--officer", help="One officer's (警号).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 200,
) -> None:
    """The exemption records, newest first."""
    from dock.interruptions.compliance import CATEGORY_WORDS, ExemptionCategory

    where, params = ("WHERE officer_number = ? ", [officer]) if officer else ("", [])
    with open_records(ctx) as raw:
        rows = raw.execute(
            "SELECT id, at_utc, category, place, officer_number, approver, note FROM exemptions "
            f"{where}ORDER BY at_utc DESC, id DESC LIMIT ?",
            [*params, limit],
        ).fetchall()
    out = table("#", "when (UTC)", "category", "place", "officer", "approved by", "note")
    for number, at, category, place, officer_number, approver, note in rows:
        en, zh = CATEGORY_WORDS[ExemptionCategory(category)]
        out.add_row(
            str(number), when(_from_db(at)), f"{en} ({zh})", place, officer_number, approver, note
        )
    show(out)


# -- compliance -------------------------------------------------------------------------------


@app.command("compliance")
@one_line_errors
def compliance_command(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="From (UTC); default 30 days ago.")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before (UTC); default now.")] = None,
    format_: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Per officer: clips, late hand-overs, interruptions by how explained and reason, exemptions."""
    from dock.interruptions import compliance

    if format_ not in FORMATS:
        raise typer.BadParameter(f"--format is one of {', '.join(FORMATS)}")
    end = utc_now() if until is None else parse_utc(until, "--until")
    start = end - timedelta(days=30) if since is None else parse_utc(since, "--since")
    if start >= end:
        raise BadTime("--since must be before --until")
    period = compliance.Period(start, end)
    with open_records(ctx) as raw:
        report = compliance_report(raw, period)
    if format_ == "json":
        typer.echo(compliance.to_json(report))
    elif format_ == "csv":
        typer.echo(compliance.to_csv(report), nl=False)
    else:
        out = table(*compliance.TABLE_HEADER)
        for row in compliance.table_rows(report):
            out.add_row(*row)
        show(out)


# Read from ix_clips_recorded_officer_late alone (migration 0005): a year is 500,000 clips.
CLIP_COUNTS_SQL = (
    "SELECT officer_number, count(*), coalesce(sum(is_late), 0) FROM clips "
    "WHERE recorded_start_utc >= ? AND recorded_start_utc < ? GROUP BY officer_number"
)


def compliance_report(raw: sqlite3.Connection, period: Period) -> ComplianceReport:
    from dock.interruptions import compliance

    bounds = (db_time(period.start_utc), db_time(period.end_utc))
    counts = raw.execute(CLIP_COUNTS_SQL, bounds).fetchall()
    exemptions = [
        compliance.Exemption(
            compliance.ExemptionCategory(category),
            _from_db(at) or period.start_utc,
            place,
            officer,
            approver,
            note,
        )
        for category, at, place, officer, approver, note in raw.execute(
            "SELECT category, at_utc, place, officer_number, approver, note FROM exemptions "
            "WHERE at_utc >= ? AND at_utc < ?",
            bounds,
        )
    ]
    interruptions = raw.execute(
        "SELECT officer_number, status, reason_code, count(*) FROM interruptions "
        "WHERE start_utc >= ? AND start_utc < ? GROUP BY officer_number, status, reason_code",
        bounds,
    ).fetchall()
    return compliance.build_report(
        period, (), (), exemptions, clip_counts=counts, interruption_counts=interruptions
    )

"""`dock replication status|retry`: how far the central copy got, and a second try after a fix.

`status` reads the replicas table only (no object store call), so it answers at once whether
the store is up, down or refusing. `retry` puts refused copies back in the queue, each retry
journaled; the running service's replicator takes them at its next pass, and they count
only if the store now answers with the checksum and the COMPLIANCE lock.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dock.cli.common import (
    app,
    cli_actor,
    one_line_errors,
    open_transaction,
    require_records,
    settings_of,
    utc_now,
)
from dock.errors import DockError

replication_app = typer.Typer(
    help="The central copy in the agency's object store.", no_args_is_help=True
)
app.add_typer(replication_app, name="replication")


class NothingToRetry(DockError):
    """`dock replication retry` named a copy that is not refused (or there is none)."""


@replication_app.command("status")
@one_line_errors
def status_command(ctx: typer.Context) -> None:
    """Confirmed, waiting and refused copies, the backlog against its alert, refused reasons."""
    from dock.replication import records

    settings = settings_of(ctx)
    require_records(settings.dock.data_dir)  # a read: never makes an empty database
    with open_transaction(ctx) as session:
        found = records.counts(session)
        refused = records.refused_rows(session)
    central = settings.central
    oldest = found.oldest_waiting_utc.isoformat() if found.oldest_waiting_utc else "-"
    backlog = found.waiting + found.refused
    lines = [
        f"object store: {central.endpoint_url or 'none (replication off)'}"
        + (f" bucket {central.bucket}" if central.endpoint_url else ""),
        f"confirmed:    {found.confirmed}",
        f"waiting:      {found.waiting}",
        f"refused:      {found.refused}"
        + (" (see below; `dock replication retry`)" if refused else ""),
        f"backlog:      {backlog} of alert {central.backlog_alert}"
        + (" - ALERT" if backlog > central.backlog_alert else "")
        + f"; oldest queued {oldest}",
    ]
    lines += [f"  refused {sha}: {reason}" for sha, reason in refused]
    typer.echo("\n".join(lines))


@replication_app.command("retry")
@one_line_errors
def retry_command(
    ctx: typer.Context,
    sha256: Annotated[str | None, typer.Argument(help="The refused object's SHA-256.")] = None,
    all_refused: Annotated[bool, typer.Option("--all", help="Every refused copy.")] = False,
) -> None:
    """Queue refused copies again once the store is fixed; each retry is a journal row."""
    from dock.replication import records

    if (sha256 is None) == (not all_refused):
        raise NothingToRetry("name one refused object's SHA-256 or give --all, not both")
    with open_transaction(ctx) as session:
        retried = records.retry(session, None if all_refused else sha256, cli_actor(), utc_now())
    if not retried:
        what = "no refused copies" if all_refused else f"no refused copy of {sha256}"
        raise NothingToRetry(f"{what}; `dock replication status` lists the refused ones")
    typer.echo(f"queued again: {len(retried)} (the service's replicator takes them next)")

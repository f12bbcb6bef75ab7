"""`dock web`: serve the custodians' pages (dock/web) on their own, on [web] listen."""

from __future__ import annotations

from typing import Annotated

import typer

from dock.cli.common import app, one_line_errors, require_records, settings_of


@app.command("web")
@one_line_errors
def web(
    ctx: typer.Context,
    listen: Annotated[
        str | None, typer.Option("--listen", help="host:port instead of [web] listen.")
    ] = None,
) -> None:
    """Serve the custodians' pages (sign in, bays, clips, requests, viewing, exports)."""
    from dock.db import open_database
    from dock.web.serve import serve

    settings = settings_of(ctx)
    require_records(settings.dock.data_dir)
    db = open_database(settings.dock.data_dir)
    try:
        where = listen or settings.web.listen
        scheme = "https" if settings.web.tls_cert_file and settings.web.tls_key_file else "http"
        typer.echo(f"custodians' pages on {scheme}://{where}/ (Ctrl-C stops)")
        serve(settings, db, listen=listen)
    finally:
        db.close()

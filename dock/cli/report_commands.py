"""`dock report key|status`: what the registry's admin enrols, and how far reporting got.

Both are cheap (no SQLAlchemy, no broker): `key` reads (or makes, as `dock serve` would) the
dock's Ed25519 key; `status` reads the journal with plain sqlite3 and the publisher's state
file, so it answers the same whether the broker is up, down or refusing the dock.
"""

from __future__ import annotations

import typer

from dock.cli.common import app, one_line_errors, open_records, settings_of

report_app = typer.Typer(help="Reporting to the central registry (MQTT).", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("key")
@one_line_errors
def key_command(ctx: typer.Context) -> None:
    """Print the dock's public key (hex) for the registry's registry.toml; made on first use."""
    from dock.report import signing

    settings = settings_of(ctx)
    key = signing.load_or_create_key(settings.dock.data_dir)
    typer.echo(signing.public_key_hex(key))


@report_app.command("status")
@one_line_errors
def status_command(ctx: typer.Context) -> None:
    """Journal size, the last row the broker acknowledged, the backlog, the last (dis)connect."""
    from dock.report.state import read_state

    settings = settings_of(ctx)
    with open_records(ctx) as raw:
        size, last_id = raw.execute("SELECT count(*), coalesce(max(id), 0) FROM journal").fetchone()
    state = read_state(settings.dock.data_dir)
    cursor = state.cursor if state else 0
    mqtt = settings.mqtt
    lines = [
        f"broker:          {mqtt.host}:{mqtt.port}" + ("" if mqtt.enabled else " (disabled)"),
        f"journal size:    {size} rows (last id {last_id})",
        f"acknowledged up to row {cursor}; backlog {max(0, int(last_id) - cursor)} rows",
        f"last connect:    {state.connected_at if state and state.connected_at else 'never'}",
        f"last disconnect: {state.disconnected_at if state and state.disconnected_at else '-'}",
    ]
    if state and state.refusal:
        lines.append(f"last refusal:    {state.refusal} at {state.refused_at}")
    typer.echo("\n".join(lines))

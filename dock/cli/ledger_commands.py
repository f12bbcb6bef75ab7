"""`dock officer|device|ledger`: the device ledger (台账), officers and pairing."""

from __future__ import annotations

from typing import Annotated

import typer

from dock.cli.common import (
    cli_actor,
    device_app,
    journal_table,
    officer_app,
    one_line_errors,
    open_transaction,
    require_records,
    settings_of,
    show,
    table,
    utc_now,
    when,
)
from dock.errors import DockError

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
    from dock import ledger

    with open_transaction(ctx) as session:
        ledger.register_officer(
            session,
            officer_number=officer_number,
            name=name,
            unit_number=unit_number,
            unit_name=unit_name,
            actor=cli_actor(),
            at=utc_now(),
        )
    show(f"officer {officer_number} ({name}) registered")


@officer_app.command("list")
@one_line_errors
def officer_list(ctx: typer.Context) -> None:
    """List the registered officers."""
    from sqlalchemy import select

    from dock.db.models import Officer

    require_records(settings_of(ctx).dock.data_dir)
    with open_transaction(ctx) as session:
        officers = list(session.scalars(select(Officer).order_by(Officer.officer_number)))
    out = table("警号", "name", "unit number", "unit")
    for o in officers:
        out.add_row(o.officer_number, o.name, o.unit_number, o.unit_name)
    show(out)


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
    from dock import ledger

    with open_transaction(ctx) as session:
        ledger.register_device(
            session,
            serial=serial,
            model=model,
            firmware_version=firmware,
            actor=cli_actor(),
            at=utc_now(),
        )
    show(f"recorder {serial} registered; dock it to pair it")


@device_app.command("assign")
@one_line_errors
def device_assign(
    ctx: typer.Context,
    serial: Annotated[str, typer.Argument()],
    officer_number: Annotated[str, typer.Argument(help="The officer's number (警号).")],
) -> None:
    """Assign a recorder to the one officer responsible for it."""
    from dock import ledger

    with open_transaction(ctx) as session:
        ledger.assign(session, serial, officer_number, actor=cli_actor(), at=utc_now())
    show(f"recorder {serial} assigned to officer {officer_number}")


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
    from dock import ledger

    if done and retire:
        raise typer.BadParameter("use --done or --retire, not both")
    state = "in_service" if done else "retired" if retire else "under_repair"
    with open_transaction(ctx) as session:
        ledger.set_maintenance(session, serial, state, note=note, actor=cli_actor(), at=utc_now())
    show(f"recorder {serial}: {state.replace('_', ' ')}")


@device_app.command("list")
@one_line_errors
def device_list(ctx: typer.Context) -> None:
    """List the registered recorders with their officer and holder."""
    from dock import ledger

    out = table("serial", "model", "firmware", "paired", "maintenance", "assigned to", "issued to")
    require_records(settings_of(ctx).dock.data_dir)
    with open_transaction(ctx) as session:
        for d in ledger.list_devices(session):
            officer = ledger.assigned_officer(session, d.serial)
            holder = ledger.current_holder(session, d.serial)
            out.add_row(
                d.serial,
                d.model,
                d.firmware_version,
                "yes" if d.is_paired else "no",
                d.maintenance_state.replace("_", " "),
                f"{officer.officer_number} {officer.name}" if officer else "",
                f"{holder.officer_number} {holder.name}" if holder else "",
            )
    show(out)


@device_app.command("show")
@one_line_errors
def device_show(ctx: typer.Context, serial: Annotated[str, typer.Argument()]) -> None:
    """Show one recorder and its recent ledger history."""
    from dock import ledger

    require_records(settings_of(ctx).dock.data_dir)
    with open_transaction(ctx) as session:
        d = ledger.get_device(session, serial)
        officer = ledger.assigned_officer(session, serial)
        holder = ledger.current_holder(session, serial)
        history = ledger.device_history(session, serial, limit=20)
    from rich.table import Table

    facts = Table.grid(padding=(0, 2))
    for key, value in [
        ("serial", d.serial),
        ("model", d.model),
        ("firmware", d.firmware_version),
        ("paired", "yes" if d.is_paired else "no"),
        ("maintenance", d.maintenance_state.replace("_", " ")),
        ("registered", when(d.registered_at)),
        ("assigned to", f"{officer.officer_number} {officer.name}" if officer else "nobody"),
        ("issued to", f"{holder.officer_number} {holder.name}" if holder else "in the dock"),
    ]:
        facts.add_row(key, value)
    show(facts, journal_table(history))


@device_app.command("pair")
@one_line_errors
def device_pair(
    ctx: typer.Context,
    serial: Annotated[str, typer.Argument(help="The registered recorder's serial number.")],
    port: Annotated[str, typer.Option("--port", help="Its serial port, e.g. /dev/ttyACM0.")],
) -> None:
    """Write the pairing key (and the officer's identity, once assigned) to a recorder."""
    from dock.clock import SystemClock
    from dock.db import open_database
    from dock.pairing import pair_over_link
    from firmware_bridge.client import RecorderClient
    from firmware_bridge.errors import RecorderError

    settings = settings_of(ctx)
    db = open_database(settings.dock.data_dir)
    try:
        with RecorderClient.open(
            port, timeout_s=settings.link.timeout_s, retries=settings.link.retries
        ) as client:
            identity = pair_over_link(db, client, serial, actor=cli_actor(), clock=SystemClock())
    except RecorderError as error:  # a lost link, a refusal or a failed proof alike
        raise DockError(f"recorder on {port}: {error}") from None
    finally:
        db.close()
    if identity is None:
        show(f"recorder {serial} paired; assign it to an officer, then pair again to write it")
    else:
        show(
            f"recorder {serial} paired; identity written: "
            f"{identity.officer_number} {identity.officer_name}"
        )

"""`dock technician enter BAY` / `leave BAY`: technician mode at a bay of the running dock.

A face only: the technician's name and password go to `dock serve` over the control socket
(ops technician_enter and technician_leave); the service signs them in and dock.technician
decides and journals. Entering answers a long press of the bay's button (or the technician
button) within its time, or stands alone; in the mode `dock reflash BAY IMAGE` needs no
--user, and the mode ends when that reflash is done, the recorder leaves, or on `leave`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dock.cli.common import app, one_line_errors, settings_of
from dock.cli.people_commands import PasswordFileOption, UserOption
from dock.i18n import t

technician_app = typer.Typer(help="Technician mode at a bay (reflash).", no_args_is_help=True)
app.add_typer(technician_app, name="technician")

BayArgument = Annotated[int, typer.Argument(min=1, metavar="BAY", help="The bay's number.")]


@technician_app.command("enter")
@one_line_errors
def enter_command(
    ctx: typer.Context,
    bay: BayArgument,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Sign in as the technician of BAY: its next reflash needs no other sign-in."""
    from dock import control
    from dock.cli.reflash_commands import technician_credential

    data_dir = settings_of(ctx).dock.data_dir
    control.request(data_dir, {"op": "bays"}, timeout_s=1.0)  # no dock: say so before a password
    user, password = technician_credential(user, password_file, t("technician mode"))
    payload = {"op": "technician_enter", "bay": bay, "user": user, "password": password}
    reply = control.request(data_dir, payload)
    typer.echo(t("bay {bay}: technician mode for {name}", bay=bay, name=reply["technician"]))


@technician_app.command("leave")
@one_line_errors
def leave_command(ctx: typer.Context, bay: BayArgument) -> None:
    """End technician mode at BAY."""
    from dock import control

    control.request(settings_of(ctx).dock.data_dir, {"op": "technician_leave", "bay": bay})
    typer.echo(t("bay {bay}: technician mode ended", bay=bay))

"""`dock offload confirm BAY`: one of the two staff a two-person offload waits for (003 art.21).

A face only: the person's name and password go to the running service over the control
socket (dock.control, op offload_confirm); the service signs them in, and the rule (two
different people, each allowed to confirm) is decided in the command layer
(dock.people.offload_confirmations). The password is read as every people command reads it:
a prompt, or --password-file (`-` for standard input).
"""

from __future__ import annotations

from pathlib import Path

import typer

from dock.cli.common import settings_of
from dock.errors import DockError

CONFIRM_WAIT_S = 60.0  # the bay may be finishing another step before it takes the request


class ConfirmNeedsBay(DockError):
    """`dock offload confirm` without a bay number."""


def confirm_offload(
    ctx: typer.Context, bay: int | None, user: str | None, password_file: Path | None
) -> None:
    from dock import control
    from dock.cli.people_commands import SignInNeeded, read_password
    from dock.i18n import choose, t

    settings = settings_of(ctx)
    choose(settings.people.language, settings.people.time_zone)
    if bay is None or bay < 1:
        raise ConfirmNeedsBay(t("give the bay: dock offload confirm BAY"))
    if not user:
        raise SignInNeeded(t("sign in: give --user with your staff user name"))
    password = read_password(password_file)
    reply = control.request(
        settings.dock.data_dir,
        {"op": "offload_confirm", "bay": bay, "user": user, "password": password},
        timeout_s=CONFIRM_WAIT_S,
    )
    names, needed = list(reply["confirmed_by"]), int(reply["needed"])
    if len(names) < needed:
        typer.echo(
            t("bay {bay}: offload confirmed by {names} ({have} of {needed}); a second person "
              "must confirm", bay=bay, names=", ".join(names), have=len(names), needed=needed)
        )  # fmt: skip
    else:
        typer.echo(
            t("bay {bay}: offload confirmed by {names}; the offload goes ahead",
              bay=bay, names=", ".join(names))
        )  # fmt: skip

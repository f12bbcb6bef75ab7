"""`dock firmware ...`: the images a technician staged at the dock, and a batch update.

`stage FILE` keeps an image signed by one of [firmware] public_keys (dock.reflash.staging);
`list` shows them; `remove HASH` takes one off; `update-all` brings every docked recorder to
the newest staged image of its model (dock.reflash.batch) and prints a line per bay. Each
change needs a technician's sign-in (--user, the password from a prompt or --password-file).

While `dock serve` runs, stage and remove are asked of it over the control socket (it trusts
the keys of its own settings, the development key too under --simulate) and update-all always
is: only the running dock holds the bays' links.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dock.cli.common import app, one_line_errors, plain_table, require_records, settings_of
from dock.cli.people_commands import PasswordFileOption, UserOption
from dock.cli.reflash_commands import (
    ReflashRefused,
    is_serving,
    sign_in,
    technician_credential,
)
from dock.i18n import t

if TYPE_CHECKING:
    from collections.abc import Callable

    from dock.clock import Clock
    from dock.config import Settings
    from dock.db.database import Database
    from dock.people.roles import Actor
    from dock.reflash.staging import StagedImage, Staging

firmware_app = typer.Typer(help="Firmware images staged at the dock.", no_args_is_help=True)
app.add_typer(firmware_app, name="firmware")


@firmware_app.command("stage")
@one_line_errors
def stage(
    ctx: typer.Context,
    image_path: Annotated[Path, typer.Argument(metavar="FILE", help="A signed firmware image.")],
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Keep a signed image at the dock for `dock firmware update-all` and the pages."""
    path = image_path.resolve()
    if not path.is_file():  # said before anyone types a password
        raise ReflashRefused(t("cannot read {path}: {reason}", path=path, reason=t("no such file")))
    staged = _change(
        settings_of(ctx),
        user,
        password_file,
        t("staging"),
        {"op": "firmware_stage", "image": str(path)},
        lambda staging, technician, db, clock: staging.stage(
            path, technician=technician, db=db, clock=clock
        ),
    )
    typer.echo(t("staged {image}", image=staged))


@firmware_app.command("list")
@one_line_errors
def list_images(ctx: typer.Context) -> None:
    """The staged images, newest version first within a model, and any that no longer check."""
    from dock import control
    from dock.reflash.staging import StagedImage, Staging, trusted_keys

    settings = settings_of(ctx)
    if is_serving(settings.dock.data_dir):  # checked with the running dock's keys
        reply = control.request(settings.dock.data_dir, {"op": "firmware_list"})
        images = [StagedImage(**row) for row in reply.get("images", [])]
    else:
        images = Staging(settings.dock.data_dir, trusted_keys(settings)).images()
    if not images:
        typer.echo(t("no staged images: stage one with `dock firmware stage FILE`"))
        return
    rows: list[tuple[str, ...]] = [
        (
            s.sha256[:16],
            s.model,
            s.version,
            s.min_version,
            str(s.size_bytes),
            s.problem or t("intact"),
        )
        for s in images
    ]
    headers = tuple(t(h) for h in ("image", "model", "version", "replaces from", "bytes", "check"))
    typer.echo(plain_table(headers, rows))


@firmware_app.command("remove")
@one_line_errors
def remove(
    ctx: typer.Context,
    image_hash: Annotated[
        str, typer.Argument(metavar="HASH", help="The image's hash, or its first 8+ digits.")
    ],
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Take a staged image off the dock (journaled with your name)."""
    removed = _change(
        settings_of(ctx),
        user,
        password_file,
        t("removing"),
        {"op": "firmware_remove", "image_sha256": image_hash},
        lambda staging, technician, db, clock: staging.remove(
            image_hash, technician=technician, db=db, clock=clock
        ),
    )
    typer.echo(t("removed {image}", image=removed))


@firmware_app.command("update-all")
@one_line_errors
def update_all(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option("--model", help="Only the recorders of this model.")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="This staged version, not the newest.")
    ] = None,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Update every docked recorder, one after another; a line per bay, exit 1 if any did not."""
    from dock import control
    from dock.reflash.batch import SKIPPED, SUCCEEDED, BayResult, totals

    settings = settings_of(ctx)
    if not is_serving(settings.dock.data_dir):
        raise ReflashRefused(
            t("update-all goes through the running dock, which holds the bays: start `dock serve`")
        )
    request = {"op": "firmware_update_all", "model": model or "", "version": version or ""}
    reply = _ask(
        settings,
        user,
        password_file,
        t("an update"),
        request,
        wait_s=control.BATCH_WAIT_S,
    )
    results = [BayResult.from_dict(row) for row in reply.get("results", [])]
    if not results:
        typer.echo(t("no recorder is docked: nothing to update"))
        return
    for result in results:
        typer.echo(result.line())
    typer.echo(totals(results))
    if any(r.outcome not in (SUCCEEDED, SKIPPED) for r in results):
        raise typer.Exit(1)


def _change(
    settings: Settings,
    user: str | None,
    password_file: Path | None,
    needs: str,
    request: dict[str, Any],
    change: Callable[[Staging, Actor, Database, Clock], StagedImage],
) -> str:
    """A change to the staged images, by the running dock if it serves, else here; its line."""
    if is_serving(settings.dock.data_dir):
        return str(_ask(settings, user, password_file, needs, request)["image"])
    return _locally(settings, user, password_file, needs, change).line()


def _ask(
    settings: Settings,
    user: str | None,
    password_file: Path | None,
    needs: str,
    request: dict[str, Any],
    *,
    wait_s: float = 60.0,
) -> dict[str, Any]:
    """One request to the running dock in the technician's name; its reply."""
    from dock import control

    user, password = technician_credential(user, password_file, needs)
    payload = {**request, "user": user, "password": password}
    try:
        return control.request(settings.dock.data_dir, payload, timeout_s=wait_s)
    except control.ControlError as err:
        raise ReflashRefused(str(err)) from None


def _locally(
    settings: Settings,
    user: str | None,
    password_file: Path | None,
    needs: str,
    change: Callable[[Staging, Actor, Database, Clock], StagedImage],
) -> StagedImage:
    """With no service: sign the technician in here and make the change on this dock's data."""
    from dock.clock import SystemClock
    from dock.db import open_database
    from dock.reflash.staging import Staging, trusted_keys

    require_records(settings.dock.data_dir)  # said before anyone types a password
    db = open_database(settings.dock.data_dir)
    clock = SystemClock()
    try:
        technician = sign_in(settings, db, clock, user, password_file, needs)
        staging = Staging(settings.dock.data_dir, trusted_keys(settings))
        return change(staging, technician, db, clock)
    finally:
        db.close()

"""`dock export verify IMAGE`: is this evidence disc image intact? (exit 0 yes, 1 no)
`dock export confirm ID` and `dock export run ID --out DIR`: an approved export confirmed by
two distinct people at the dock, then written (dock.people.exporting).

It reads the image through pycdlib (no mount, no root), so it runs on any machine with the
dock installed. On the dock itself (its database exists) each verification is journaled
as export.verified with the image's SHA-256; elsewhere it only reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dock.cli.common import (
    app,
    cli_actor,
    one_line_errors,
    require_records,
    settings_of,
    utc_now,
)
from dock.cli.people_commands import PasswordFileOption, UserOption, sign_in, signed_in
from dock.errors import DockError

export_app = typer.Typer(
    help="Evidence discs (光盘): confirm, write and check an export.", no_args_is_help=True
)
app.add_typer(export_app, name="export")


class ImageNotFound(DockError):
    """`dock export verify` was given a path that is not a file."""


@export_app.command("verify")
@one_line_errors
def verify_command(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="The disc image (.iso) to check.")],
) -> None:
    """Check every file of the bag, the tag files, the note's hashes and the label."""
    from dock.export.verify import verify_image

    if not image.is_file():
        raise ImageNotFound(f"{image}: no such image file; give the path of an exported .iso")
    problems = verify_image(image)
    _journal_verified(ctx, image, problems)
    for problem in problems:
        typer.echo(f"{image.name}: {problem}", err=True)
    if problems:
        typer.echo(f"{image.name}: NOT INTACT, {len(problems)} problem(s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"{image.name}: intact (Joliet and UDF trees, bag, note and label checked)")


def _journal_verified(ctx: typer.Context, image: Path, problems: list[str]) -> None:
    from dock.db.database import DB_FILE_NAME

    data_dir = settings_of(ctx).dock.data_dir
    if not (data_dir / DB_FILE_NAME).is_file():
        return  # not on a dock: verifying needs no dock data
    from dock import journal
    from dock.db import open_database
    from dock.events import ExportVerified
    from dock.offload.store import sha256_of_file

    happened = ExportVerified(
        image_name=image.name,
        image_sha256=sha256_of_file(image),
        is_intact=not problems,
        problems=tuple(problems),
    )
    db = open_database(data_dir)
    try:
        with db.transaction() as session:
            journal.append(session, happened, actor=cli_actor(), at=utc_now())
    finally:
        db.close()


@export_app.command("confirm")
@one_line_errors
def confirm_command(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="The approved export request's number.")],
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Confirm an approved export at the dock; it is written once enough distinct people have."""
    from dock.i18n import t

    with signed_in(ctx, user, password_file) as desk:
        confirmed = desk.commands.confirm_export(desk.session, desk.actor, request_id)
        needed = desk.settings.people.export_confirmations
    typer.echo(
        t("export {id} confirmed by {names} ({have} of {needed})", id=request_id,
          names=", ".join(confirmed), have=len(confirmed), needed=needed)
    )  # fmt: skip


@export_app.command("run")
@one_line_errors
def run_command(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="The approved, confirmed export request.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the two disc images.")],
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Write copy 1 and copy 2 of the export; you must be one of the people who confirmed it."""
    from dock.clock import SystemClock
    from dock.db import open_database
    from dock.i18n import t
    from dock.offload.store import EvidenceStore
    from dock.people.commands import Commands
    from dock.people.exporting import carry_out_export

    settings = settings_of(ctx)
    require_records(settings.dock.data_dir)
    db = open_database(settings.dock.data_dir)
    try:
        actor = sign_in(settings, db, user, password_file)
        store = EvidenceStore(settings.dock.data_dir / "store", sweeps_temp_files=False)
        images = carry_out_export(
            db, Commands(settings.people, SystemClock()), actor, request_id,
            store=store, out_dir=out, settings=settings,
        )  # fmt: skip
    finally:
        db.close()
    for path, sha256 in zip(images.paths, images.sha256s, strict=True):
        typer.echo(f"{path}  sha256 {sha256}")
    typer.echo(t("export {id} carried out: two images written", id=request_id))

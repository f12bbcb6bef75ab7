"""`dock reflash BAY IMAGE`: a technician updates the firmware of the recorder in one bay.

The technician signs in (--user, the password from a prompt or --password-file, `-` for
standard input) and must hold the technician role. A downgrade needs --force and a second
person, a technician or a leader, who signs in too (--approved-by, their password from a
prompt or --approver-password-file): both names are journaled. Every step is a journal row
(dock/reflash/session.py), and the bay goes REFLASHING, then back to identifying.

While `dock serve` runs, the service owns the bays' links: the command asks it over the
control socket, and the bay's own thread reflashes, then identifies and checks the recorder
again (a downgrade is refused there: stop the service for it); a bay in technician mode
(`dock technician enter BAY`) needs no --user, its technician is the one journaled.
Otherwise the command talks to the bay's serial port itself ([bays.fixed.N] port, or --port).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dock.cli.common import app, one_line_errors, require_records, settings_of
from dock.errors import DockError
from dock.i18n import t

if TYPE_CHECKING:
    from dock.bays.machine import BayMachine
    from dock.clock import Clock
    from dock.config import Settings
    from dock.db.database import Database
    from dock.people import Actor
    from dock.reflash.session import Reflash, ReflashOutcome
    from firmware_bridge.image import Image


class ReflashRefused(DockError):
    """The reflash cannot start as asked: the message says what to give or do."""


@app.command("reflash")
@one_line_errors
def reflash_command(
    ctx: typer.Context,
    bay: Annotated[int, typer.Argument(min=1, metavar="BAY", help="The bay holding the recorder.")],
    image_path: Annotated[Path, typer.Argument(metavar="IMAGE", help="A signed firmware image.")],
    user: Annotated[str | None, typer.Option("--user", help="Your staff user name.")] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file", help="Read your password from this file (- for stdin), not a prompt."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow a downgrade (needs --approved-by).")
    ] = False,
    approved_by: Annotated[
        str | None,
        typer.Option("--approved-by", help="The technician or leader approving a downgrade."),
    ] = None,
    approver_password_file: Annotated[
        Path | None,
        typer.Option(
            "--approver-password-file",
            help="The approver's password from this file (- for stdin), not a prompt.",
        ),
    ] = None,
    port: Annotated[
        str | None,
        typer.Option("--port", help="The recorder's serial port, if the bay has no fixed port."),
    ] = None,
) -> None:
    """Send a signed firmware image to the recorder in BAY; exit 0 once it is confirmed."""
    from dock.clock import SystemClock
    from dock.db import open_database
    from dock.people.roles import NotAllowed, Role, require
    from dock.reflash.session import Reflash
    from firmware_bridge.image import ImageError, read_image

    settings = settings_of(ctx)
    if approved_by and not force:
        raise ReflashRefused(t("--approved-by is for a downgrade: give --force with it"))
    if force and not approved_by:
        raise ReflashRefused(t("--force needs a second person: give --approved-by NAME"))
    try:
        image = read_image(image_path)
    except ImageError as err:
        raise ReflashRefused(
            t("{error}; give an image made by `make firmware`", error=err)
        ) from None
    if is_serving(settings.dock.data_dir):
        if force:
            raise ReflashRefused(
                t("a downgrade is not sent through the running dock: stop the service (systemctl stop dock) and run `dock reflash --force` again")
            )  # fmt: skip
        typer.echo(_through_service(settings.dock.data_dir, bay, image_path, user, password_file))
        return
    port_path = _port_of(settings, bay, port)
    require_records(settings.dock.data_dir)
    db = open_database(settings.dock.data_dir)
    clock = SystemClock()
    try:
        technician = sign_in(settings, db, clock, user, password_file)
        require(technician, Role.TECHNICIAN)
        approver = None
        if approved_by:
            approver = sign_in(settings, db, clock, approved_by, approver_password_file)
            if not (approver.has(Role.TECHNICIAN) or approver.has(Role.LEADER)):
                raise NotAllowed(
                    t("{name} may not approve a downgrade: it needs the role technician or leader",
                      name=approver.username)
                )  # fmt: skip
            if approver.username == technician.username:
                raise ReflashRefused(
                    t("a downgrade needs a second person: --approved-by must name someone else")
                )
        outcome = _run(
            Reflash(db, clock, technician=technician.journal_name),
            db,
            _bay_machine(db, clock, bay),
            port_path,
            settings.link.timeout_s,
            image,
            approver.journal_name if approver else None,
        )
    finally:
        db.close()
    sent = t("{count} bytes sent", count=outcome.sent_bytes)
    if outcome.resumed_from_bytes:
        sent += t(", resumed at {offset}", offset=outcome.resumed_from_bytes)
    typer.echo(t("bay {bay}: {outcome} ({sent})", bay=bay, outcome=outcome.summary(), sent=sent))
    if not outcome.is_confirmed:
        raise typer.Exit(1)


def _run(
    reflash: Reflash,
    db: Database,
    machine: BayMachine | None,
    port_path: str,
    timeout_s: float,
    image: Image,
    approver: str | None,
) -> ReflashOutcome:
    """The session over the port, with the recorder's paired key; link trouble in one line."""
    from dock import ledger
    from firmware_bridge.client import RecorderClient
    from firmware_bridge.errors import RecorderError

    def key_for(serial: str) -> bytes:
        with db.transaction() as session:
            key = ledger.paired_key(session, serial)
        if key is None:
            raise ReflashRefused(
                t("recorder {serial} is not paired with this dock: pair it first (`dock device pair {serial} --port {port}`)",
                  serial=serial, port=port_path)
            )  # fmt: skip
        return key

    try:
        return reflash.run(
            lambda: RecorderClient.open(port_path, timeout_s=timeout_s),
            key_for,
            image,
            bay=machine,
            downgrade_approved_by=approver,
        )
    except (RecorderError, OSError) as err:
        raise ReflashRefused(
            t("recorder on {port}: {error}; check it is docked and run the command again (a transfer resumes where it stopped)",
              port=port_path, error=err)
        ) from None  # fmt: skip


def _port_of(settings: Settings, bay: int, port: str | None) -> str:
    if port:
        return port
    fixed = settings.bays.fixed.get(bay)
    if fixed is None:
        raise ReflashRefused(
            t("bay {bay} has no fixed serial port in the config: give --port /dev/ttyACM0", bay=bay)
        )
    return fixed.port


def is_serving(data_dir: Path) -> bool:
    from dock import control

    try:
        control.request(data_dir, {"op": "bays"}, timeout_s=1.0)
    except control.ControlError:
        return False  # no service: this command may use the port
    return True


def _through_service(
    data_dir: Path, bay: int, image_path: Path, user: str | None, password_file: Path | None
) -> str:
    """The running dock holds the bay's link: its bay thread reflashes; the outcome line.

    Without --user, the bay's technician mode (`dock technician enter BAY`) says who."""
    from dock import control

    payload = {"op": "reflash", "bay": bay, "image": str(image_path.resolve())}
    if user:
        payload["user"], payload["password"] = technician_credential(user, password_file)
    try:
        reply = control.request(data_dir, payload, timeout_s=control.REFLASH_WAIT_S)
    except control.ControlError as err:
        raise ReflashRefused(str(err)) from None
    if not isinstance(reply.get("outcome"), str):
        raise ReflashRefused(t("the dock service did not say how the reflash ended: see its log"))
    return str(reply["outcome"])


def sign_in(
    settings: Settings,
    db: Database,
    clock: Clock,
    user: str | None,
    password_file: Path | None,
    needs: str = "",
) -> Actor:
    """Authenticate one person (a wrong password counts towards the lock-out)."""
    from dock.people import authenticate

    user, password = technician_credential(user, password_file, needs)
    return authenticate(db, user, password, limits=settings.people, clock=clock)


def technician_credential(
    user: str | None, password_file: Path | None, needs: str = ""
) -> tuple[str, str]:
    """The user name given and its password (from the file, or a prompt); `needs` names
    what asks for them, in the agency's language (a reflash when not given)."""
    from dock.cli.people_commands import read_password

    if not user:
        raise ReflashRefused(
            t("{needs} needs a technician: give --user with your staff user name",
              needs=needs or t("a reflash"))
        )  # fmt: skip
    return user, read_password(password_file, t("password for {name}", name=user))


def _bay_machine(db: Database, clock: Clock, bay: int) -> BayMachine | None:
    """The bay's machine when its recorder is docked and checked; None leaves it untouched."""
    from dock.bays.machine import BayMachine
    from dock.bays.states import CHECKED

    machine = BayMachine(bay, db, clock)
    return machine if machine.state in CHECKED else None

"""`dock staff|request|review|approve|refuse|queue|classify|search|mark`: the CLI face of the
command layer (dock/people/).

Every command signs its person in first (--user, the password from a prompt or
--password-file, `-` for standard input): a wrong password counts towards the lock-out
even though the command then stops. The change then runs through dock.people in one
transaction with its journal row, so the CLI, the web pages and the buttons cannot
disagree about what a request's step means.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dock.cli.common import app, one_line_errors, plain_table, require_records, settings_of
from dock.errors import DockError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dock.config import Settings
    from dock.db.database import Database
    from dock.people import Actor
    from dock.people.commands import Commands
    from dock.people.models import Request

staff_app = typer.Typer(help="Staff accounts (工作人员) and their roles.", no_args_is_help=True)
request_app = typer.Typer(
    help="Ask to view, copy or export a clip or a case.", no_args_is_help=True
)
app.add_typer(staff_app, name="staff")
app.add_typer(request_app, name="request")

UserOption = Annotated[str | None, typer.Option("--user", help="Your staff user name.")]
PasswordFileOption = Annotated[
    Path | None,
    typer.Option(
        "--password-file", help="Read your password from this file (- for stdin), not a prompt."
    ),
]
NoteOption = Annotated[str, typer.Option("--note", help="Why: kept in the journal.")]
ClipOption = Annotated[int | None, typer.Option("--clip", help="One clip, by its number.")]
CaseOption = Annotated[str | None, typer.Option("--case", help="Every clip of one case number.")]


class SignInNeeded(DockError):
    """A command that acts for a person was given no person."""


class PasswordUnreadable(DockError):
    """--password-file names a file that cannot be read."""


class BadTime(DockError):
    """--since or --until is not a date or time."""


@dataclass(frozen=True)
class Desk:
    """What a signed-in command works with: the person, the rules, the open transaction."""

    session: Session
    actor: Actor
    commands: Commands
    settings: Settings


def read_password(password_file: Path | None, prompt: str = "password") -> str:
    if password_file is None:
        return str(typer.prompt(prompt, hide_input=True))
    if str(password_file) == "-":
        return sys.stdin.readline().rstrip("\r\n")
    try:
        return password_file.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        from dock.i18n import t

        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise PasswordUnreadable(
            t("{path}: cannot read the password file ({reason}); give a readable file",
              path=password_file, reason=reason)
        ) from None  # fmt: skip


def sign_in(
    settings: Settings, db: Database, user: str | None, password_file: Path | None
) -> Actor:
    from dock.clock import SystemClock
    from dock.i18n import choose, t
    from dock.people import authenticate

    choose(settings.people.language, settings.people.time_zone)
    if not user:
        raise SignInNeeded(t("sign in: give --user with your staff user name"))
    password = read_password(password_file)
    return authenticate(db, user, password, limits=settings.people, clock=SystemClock())


@contextmanager
def signed_in(ctx: typer.Context, user: str | None, password_file: Path | None) -> Iterator[Desk]:
    """Sign the person in (its own transaction), then one transaction for what they do."""
    from dock.clock import SystemClock
    from dock.db import open_database
    from dock.people.commands import Commands

    settings = settings_of(ctx)
    require_records(settings.dock.data_dir)
    db = open_database(settings.dock.data_dir)
    try:
        actor = sign_in(settings, db, user, password_file)
        with db.transaction() as session:
            yield Desk(session, actor, Commands(settings.people, SystemClock()), settings)
    finally:
        db.close()


def describe(request: Request) -> str:
    from dock.i18n import local_time, t

    target = (
        t("clip {clip}", clip=request.clip_id)
        if request.clip_id is not None
        else t("case {case}", case=request.case_number)
        if request.case_number is not None
        else t("what had expired by {at}", at=local_time(request.requested_at_utc))
    )
    line = t(
        "request {id}: {kind} {target}, {state}", id=request.id, kind=request.kind,
        target=target, state=request.state,
    )  # fmt: skip
    if request.state == "approved" and request.expires_at_utc is not None:
        line += t(" until {at}", at=local_time(request.expires_at_utc))
    return line


# -- staff ------------------------------------------------------------------------------------


@staff_app.command("add")
@one_line_errors
def staff_add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The new person's user name.")],
    name: Annotated[str, typer.Option("--name", help="Their name as records show it.")],
    roles: Annotated[
        str, typer.Option("--roles", help="Comma-separated: officer, custodian, leader, ...")
    ],
    new_password_file: Annotated[
        Path | None,
        typer.Option("--new-password-file", help="Their first password from a file, not a prompt."),
    ] = None,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Add a member of staff; the very first account (an administrator) needs no --user."""
    from sqlalchemy import select

    from dock.clock import SystemClock
    from dock.db import open_database
    from dock.i18n import choose, t
    from dock.people import add_staff
    from dock.people.models import Staff

    settings = settings_of(ctx)
    choose(settings.people.language, settings.people.time_zone)
    db = open_database(settings.dock.data_dir)  # the first account sets the dock up
    try:
        with db.transaction() as session:
            is_first = session.scalar(select(Staff.id).limit(1)) is None
        by = None if is_first and user is None else sign_in(settings, db, user, password_file)
        password = read_password(new_password_file, f"password for {username}")
        with db.transaction() as session:
            add_staff(
                session, by, username=username, display_name=name,
                roles=[r.strip() for r in roles.split(",") if r.strip()],
                password=password, clock=SystemClock(),
            )  # fmt: skip
    finally:
        db.close()
    typer.echo(t("{username} added", username=username))


@staff_app.command("list")
@one_line_errors
def staff_list(
    ctx: typer.Context, user: UserOption = None, password_file: PasswordFileOption = None
) -> None:
    """Everyone with an account, their roles and whether they are locked out."""
    from sqlalchemy import select

    from dock.i18n import local_time
    from dock.people import Permission, require
    from dock.people.models import Staff

    with signed_in(ctx, user, password_file) as desk:
        if not desk.actor.has(Permission.READ_REGISTER):
            require(desk.actor, Permission.MANAGE_STAFF)
        rows: list[tuple[str, ...]] = [
            (s.username, s.display_name, s.roles.replace(",", ", "), local_time(s.locked_until_utc))
            for s in desk.session.scalars(select(Staff).order_by(Staff.username))
        ]
    typer.echo(plain_table(("user", "name", "roles", "locked until"), rows))


# -- requests and their steps -----------------------------------------------------------------


def _request(
    ctx: typer.Context,
    kind: str,
    clip: int | None,
    case: str | None,
    reason: str,
    user: str | None,
    password_file: Path | None,
) -> None:
    with signed_in(ctx, user, password_file) as desk:
        made = desk.commands.request(
            desk.session, desk.actor, kind, reason=reason, clip_id=clip, case_number=case
        )
        typer.echo(describe(made))


ReasonOption = Annotated[str, typer.Option("--reason", help="Why you need it: kept for good.")]


@request_app.command("view")
@one_line_errors
def request_view(
    ctx: typer.Context,
    reason: ReasonOption,
    clip: ClipOption = None,
    case: CaseOption = None,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Ask to view (调阅) a clip or a case; review and approval follow."""
    _request(ctx, "view", clip, case, reason, user, password_file)


@request_app.command("copy")
@one_line_errors
def request_copy(
    ctx: typer.Context,
    reason: ReasonOption,
    clip: ClipOption = None,
    case: CaseOption = None,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Ask to copy (复制) a clip or a case; it needs legal review and approval."""
    _request(ctx, "copy", clip, case, reason, user, password_file)


@request_app.command("export")
@one_line_errors
def request_export(
    ctx: typer.Context,
    reason: ReasonOption,
    clip: ClipOption = None,
    case: CaseOption = None,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Ask to export a clip or a case on evidence discs; two people then confirm at the dock."""
    _request(ctx, "export", clip, case, reason, user, password_file)


RequestId = Annotated[int, typer.Argument(help="The request's number (see `dock queue`).")]


@app.command("review")
@one_line_errors
def review(
    ctx: typer.Context,
    request_id: RequestId,
    note: NoteOption = "",
    refuse: Annotated[bool, typer.Option("--refuse", help="Refuse it (needs --note).")] = False,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Review a request as the role the agency names for its kind: pass it on, or refuse it."""
    with signed_in(ctx, user, password_file) as desk:
        done = desk.commands.review(
            desk.session, desk.actor, request_id, note=note, is_passed=not refuse
        )
        typer.echo(describe(done))


@app.command("approve")
@one_line_errors
def approve(
    ctx: typer.Context,
    request_id: RequestId,
    note: NoteOption = "",
    marks: Annotated[
        str,
        typer.Option("--marks", help="The confidentiality marks you let leave, comma-separated."),
    ] = "",
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Approve a reviewed request; it holds for [people] approval_hours and this purpose only."""
    with signed_in(ctx, user, password_file) as desk:
        named = [m.strip() for m in marks.split(",") if m.strip()]
        done = desk.commands.approve(
            desk.session, desk.actor, request_id, note=note, marks_named=named
        )
        typer.echo(describe(done))


@app.command("refuse")
@one_line_errors
def refuse(
    ctx: typer.Context,
    request_id: RequestId,
    note: NoteOption,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Refuse a reviewed request, saying why."""
    with signed_in(ctx, user, password_file) as desk:
        typer.echo(describe(desk.commands.refuse(desk.session, desk.actor, request_id, note=note)))


@app.command("queue")
@one_line_errors
def queue(
    ctx: typer.Context, user: UserOption = None, password_file: PasswordFileOption = None
) -> None:
    """The requests waiting for you: to review, to approve, or (exports) to confirm."""
    from dock.i18n import local_time, t

    with signed_in(ctx, user, password_file) as desk:
        waiting = desk.commands.queue(desk.session, desk.actor)
        rows: list[tuple[str, ...]] = [
            (
                str(r.id),
                r.kind,
                str(r.clip_id) if r.clip_id is not None else f"case {r.case_number}",
                r.state,
                r.requested_by,
                local_time(r.requested_at_utc),
                r.reason,
            )  # fmt: skip
            for r in waiting
        ]
    if not rows:
        typer.echo(t("nothing waits for you"))
        return
    typer.echo(plain_table(("#", "kind", "clip", "state", "by", "asked at", "reason"), rows))


# -- classification, search and marks ---------------------------------------------------------

FieldOption = Annotated[str | None, typer.Option()]


@app.command("classify")
@one_line_errors
def classify(
    ctx: typer.Context,
    clip: Annotated[int, typer.Argument(help="The clip's number.")],
    case_name: FieldOption = None,
    case_number: FieldOption = None,
    party: FieldOption = None,
    enforcement_type: FieldOption = None,
    category: Annotated[
        str | None, typer.Option(help="One of the agency's checklist ([people] record_categories).")
    ] = None,
    place: FieldOption = None,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Set a clip's case name and number, party, enforcement type, category or place."""
    from dock.i18n import t
    from dock.people.classification import classify as set_fields

    given = {
        "case_name": case_name, "case_number": case_number, "party": party,
        "enforcement_type": enforcement_type, "category": category, "place": place,
    }  # fmt: skip
    changes: dict[str, str | None] = {n: v for n, v in given.items() if v is not None}
    with signed_in(ctx, user, password_file) as desk:
        set_fields(
            desk.session, desk.actor, clip, changes,
            categories=desk.settings.people.record_categories,
            retention=desk.settings.retention, clock=desk.commands.clock,
        )  # fmt: skip
    typer.echo(t("clip {clip} classified: {fields}", clip=clip, fields=", ".join(changes)))


@app.command("search")
@one_line_errors
def search(
    ctx: typer.Context,
    case_name: FieldOption = None,
    case_number: FieldOption = None,
    party: FieldOption = None,
    enforcement_type: FieldOption = None,
    category: FieldOption = None,
    place: FieldOption = None,
    since: Annotated[
        str | None,
        typer.Option(help="Recorded from (agency time): 2026-12-01 or 2026-12-01T08:00."),
    ] = None,
    until: Annotated[str | None, typer.Option(help="Recorded before (agency time).")] = None,
    page: Annotated[int, typer.Option(min=1, help="Pages of 50, newest first.")] = 1,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Clips by any classification field and a recording time range; marks shown on each."""
    from dock.i18n import local_time, t
    from dock.people.classification import search as find

    given = {
        "case_name": case_name, "case_number": case_number, "party": party,
        "enforcement_type": enforcement_type, "category": category, "place": place,
    }  # fmt: skip
    filters = {name: value for name, value in given.items() if value is not None}
    with signed_in(ctx, user, password_file) as desk:
        zone = desk.settings.people.time_zone
        found = find(
            desk.session, filters, since=_moment(since, zone), until=_moment(until, zone), page=page
        )
    rows: list[tuple[str, ...]] = [
        (
            str(f.clip_id),
            local_time(f.recorded_start_utc),
            f.officer_number or "",
            f.fields["case_number"] or "",
            f.fields["case_name"] or "",
            f.fields["party"] or "",
            f.fields["category"] or "",
            f.fields["place"] or "",
            ", ".join(f.marks),
        )  # fmt: skip
        for f in found
    ]
    if not rows:
        typer.echo(t("no clips match (page {page})", page=page))
        return
    headers = ("clip", "recorded", "officer", "case no.", "case", "party", "category", "place")
    typer.echo(plain_table((*headers, "marks"), rows))


def _moment(text: str | None, zone: str) -> datetime | None:
    """A date or time as the agency reads it (its zone unless one is given), in UTC."""
    from datetime import UTC
    from zoneinfo import ZoneInfo

    from dock.i18n import t

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadTime(
            t("{text} is not a date or time; write 2026-12-01 or 2026-12-01T08:00", text=repr(text))
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


@app.command("mark")
@one_line_errors
def mark(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="state_secret, commercial_secret or personal_information.")
    ],
    clip: ClipOption = None,
    case: CaseOption = None,
    reason: Annotated[str, typer.Option("--reason", help="Why it is confidential.")] = "",
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Mark a clip or a whole case confidential; it then shows wherever the clip does."""
    from dock.i18n import t
    from dock.people.marks import set_mark

    with signed_in(ctx, user, password_file) as desk:
        set_mark(
            desk.session, desk.actor, name, clip_id=clip, case_number=case, reason=reason,
            clock=desk.commands.clock,
        )  # fmt: skip
    target = t("clip {clip}", clip=clip) if clip is not None else t("case {case}", case=case)
    typer.echo(t("{target} marked {mark}", target=target, mark=name))

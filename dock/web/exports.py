"""Exports on evidence discs: two people confirm at the dock, one of them writes the discs,
and the page shows each image's path, SHA-256 and its verification.

Confirming is Commands.confirm_export (each person signed in in their own session; the
same person twice is refused there); writing is dock.people.exporting.carry_out_export,
as `dock export run`. Each image is then read completely by dock.export.verify (as `dock
export verify` does) and the result journaled, so the page shows what the journal holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from starlette.responses import Response
from starlette.routing import Route

from dock import journal
from dock.db.models import JournalRow
from dock.events import ExportVerified
from dock.i18n import t
from dock.offload.store import sha256_of_file
from dock.people.commands import Kind
from dock.people.exporting import carry_out_export
from dock.people.models import Request
from dock.people.roles import Permission
from dock.web.site import Ask, page, redirect

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

EXPORTS_FOLDER = "exports"
SHOWN = 50
JOURNAL_LOOKBACK = 2000


@dataclass(frozen=True)
class WrittenImage:
    name: str
    path: str
    sha256: str
    is_intact: bool | None  # None: not verified yet
    problems: tuple[str, ...]


def exports_page(ask: Ask) -> Response:
    with ask.site.db.transaction() as session:
        exports = list(
            session.scalars(
                select(Request)
                .where(Request.kind == Kind.EXPORT)
                .order_by(Request.id.desc())
                .limit(SHOWN)
            )
        )
        session.expunge_all()
    return ask.render("exports.html", exports=exports)


def export_page(ask: Ask) -> Response:
    request_id = ask.param("request_id")
    commands = ask.site.commands
    with ask.site.db.transaction() as session:
        request = session.get(Request, request_id)
        if request is None or request.kind != Kind.EXPORT:
            return ask.render(
                "error.html",
                status=404,
                message=t("no request {id}; check the number", id=request_id),
            )
        confirmed = commands.confirmations(session, request_id)
        images = _written(session, request_id, ask.site.data_dir / EXPORTS_FOLDER)
        session.expunge(request)
    needed = ask.site.settings.people.export_confirmations
    me = ask.actor.username
    return ask.render(
        "export.html",
        export=request,
        confirmed=confirmed,
        needed=needed,
        images=images,
        may_confirm=request.state == "approved"
        and ask.actor.has(Permission.CONFIRM_EXPORT)
        and me not in confirmed,
        may_run=request.state == "approved" and me in confirmed and len(confirmed) >= needed,
    )


def confirm(ask: Ask) -> Response:
    request_id = ask.param("request_id")
    with ask.site.db.transaction() as session:
        ask.site.commands.confirm_export(session, ask.actor, request_id)
    return redirect(f"/exports/{request_id}")


def run(ask: Ask) -> Response:
    request_id = ask.param("request_id")
    site = ask.site
    images = carry_out_export(
        site.db, site.commands, ask.actor, request_id, store=site.store,
        out_dir=site.data_dir / EXPORTS_FOLDER, settings=site.settings,
    )  # fmt: skip
    _verify(ask, images.paths)
    return redirect(f"/exports/{request_id}")


def verify_again(ask: Ask) -> Response:
    """Read each image of the export completely again, as `dock export verify` does."""
    request_id = ask.param("request_id")
    with ask.site.db.transaction() as session:
        images = _written(session, request_id, ask.site.data_dir / EXPORTS_FOLDER)
    _verify(ask, tuple(Path(image.path) for image in images))
    return redirect(f"/exports/{request_id}")


def _verify(ask: Ask, paths: tuple[Path, ...]) -> None:
    """Each image checked without mounting it (dock.export.verify) and the result journaled."""
    from dock.export.verify import verify_image

    site = ask.site
    for path in paths:
        problems = verify_image(path)
        happened = ExportVerified(
            image_name=path.name,
            image_sha256=sha256_of_file(path),
            is_intact=not problems,
            problems=tuple(problems),
        )
        with site.db.transaction() as session:
            journal.append(session, happened, actor=ask.actor.journal_name, at=site.clock.now_utc())


def _written(session: Session, request_id: int, folder: Path) -> list[WrittenImage]:
    """The images of this export as journaled (export.written) and their last verification."""
    found = session.scalars(
        select(JournalRow)
        .where(JournalRow.type.in_(("export.written", "export.verified")))
        .order_by(JournalRow.id.desc())
        .limit(JOURNAL_LOOKBACK)
    )
    rows = [(row.type, json.loads(row.data)) for row in reversed(list(found))]
    written = [
        d for kind, d in rows if kind == "export.written" and d["approval_id"] == str(request_id)
    ]
    if not written:
        return []
    data = written[-1]
    verified = {d["image_name"]: d for kind, d in rows if kind == "export.verified"}
    images = []
    for name, sha256 in zip(data["image_names"], data["image_sha256s"], strict=True):
        check = verified.get(name)
        images.append(
            WrittenImage(
                name=name,
                path=str(folder / name),
                sha256=sha256,
                is_intact=None if check is None else bool(check["is_intact"]),
                problems=tuple(check["problems"]) if check else (),
            )
        )
    return images


ROUTES = [
    Route("/exports", page(exports_page)),
    Route("/exports/{request_id:int}", page(export_page)),
    Route("/exports/{request_id:int}/confirm", page(confirm), methods=["POST"]),
    Route("/exports/{request_id:int}/run", page(run), methods=["POST"]),
    Route("/exports/{request_id:int}/verify", page(verify_again), methods=["POST"]),
]
NAV = [("/exports", "Exports")]

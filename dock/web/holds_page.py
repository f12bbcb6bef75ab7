"""Long-term holds in the pages: the list, placing one on a clip or a case, and lifting one.

Each action is the call `dock hold place|lift` makes (dock.retention.holds) with the signed-in
person: placing needs clip.mark (the custodian, the leader); asking to lift is a lift_hold
request of the command layer, reviewed and approved in the requests queue like any other,
and its requester lifts the hold here once it is approved.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.responses import Response
from starlette.routing import Route

from dock.i18n import t
from dock.people.models import Request
from dock.people.roles import Permission, require
from dock.retention import holds
from dock.retention.holds import HoldError, HoldKind
from dock.web.site import Ask, page, redirect

KIND_WORDS = {
    HoldKind.DISPUTE: "a dispute or complaint is expected",
    HoldKind.OBSTRUCTION: "obstruction of officers",
    HoldKind.MAJOR: "a major or sensitive matter",
    HoldKind.BY_HAND: "set by hand",
}


def holds_page(ask: Ask) -> Response:
    with ask.site.db.transaction() as session:
        active = holds.active_holds(session)
        asked = [h.lift_request_id for h in active if h.lift_request_id is not None]
        lifts = {r.id: r for r in session.scalars(select(Request).where(Request.id.in_(asked)))}
        session.expunge_all()
    return ask.render(
        "holds.html",
        holds=active,
        lifts=lifts,
        kinds=KIND_WORDS,
        may_place=ask.actor.has(Permission.MARK),
        may_request=ask.actor.has(Permission.REQUEST),
    )


def place(ask: Ask) -> Response:
    require(ask.actor, Permission.MARK)
    kind = ask.form.get("kind", "")
    clip = ask.form.get("clip_id", "").strip()
    if clip and not clip.isdigit():
        raise HoldError(t("{clip} is not a clip number; the clips page lists them", clip=clip))
    with ask.site.db.transaction() as session:
        hold = holds.place_hold(
            session, clip_id=int(clip) if clip else None,
            case_number=ask.form.get("case_number", "").strip() or None, kind=kind,
            note=ask.form.get("note", ""), actor=ask.actor.journal_name,
            now=ask.site.clock.now_utc(),
        )  # fmt: skip
        hold_id = hold.id
    return redirect(f"/holds?placed={hold_id}")


def request_lift(ask: Ask) -> Response:
    with ask.site.db.transaction() as session:
        made = holds.request_lift(
            session, ask.site.commands, ask.actor, ask.param("hold_id"),
            why=ask.form.get("why", ""),
        )  # fmt: skip
        made_id = made.id
    return redirect(f"/queue?requested={made_id}")


def lift(ask: Ask) -> Response:
    with ask.site.db.transaction() as session:
        holds.lift_hold(session, ask.site.commands, ask.actor, ask.param("hold_id"))
    return redirect(f"/holds?lifted={ask.param('hold_id')}")


ROUTES = [
    Route("/holds", page(holds_page)),
    Route("/holds", page(place), methods=["POST"]),
    Route("/holds/{hold_id:int}/lift-request", page(request_lift), methods=["POST"]),
    Route("/holds/{hold_id:int}/lift", page(lift), methods=["POST"]),
]
NAV = [("/holds", "Holds")]

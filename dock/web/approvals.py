"""Requests to view, copy or export, and the queue of each person's role.

Every step is one call of dock.people.commands.Commands in one transaction (its journal row
with it): who may review or approve which kind is the agency's configuration there, not
here. The queue is Commands.queue: a second person, signed in in their own session, sees
what waits for them and acts on it.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.responses import Response
from starlette.routing import Route

from dock.people.models import Request
from dock.web.clips import MARK_WORDS
from dock.web.site import Ask, page, redirect

MY_REQUESTS_SHOWN = 50


def new_request(ask: Ask) -> Response:
    clip_id = int(ask.form["clip_id"]) if ask.form.get("clip_id") else None
    case_number = None
    if ask.form.get("whole_case") and clip_id is not None:
        from dock.db.models import Clip

        with ask.site.db.transaction() as session:
            clip = session.get(Clip, clip_id)
            case_number = clip.case_number if clip is not None else None
        clip_id = None if case_number else clip_id
    with ask.site.db.transaction() as session:
        made = ask.site.commands.request(
            session, ask.actor, ask.form.get("kind", ""), reason=ask.form.get("reason", ""),
            clip_id=clip_id, case_number=case_number,
        )  # fmt: skip
        made_id = made.id
    back = f"/clips/{clip_id}" if clip_id is not None else "/queue"
    return redirect(f"{back}?requested={made_id}")


def queue_page(ask: Ask) -> Response:
    commands = ask.site.commands
    with ask.site.db.transaction() as session:
        waiting = commands.queue(session, ask.actor)
        # The marks the request's clips or case carry, so the approver sees what they let out
        # (the command layer's own reading of them; it has no public name yet).
        marks = {r.id: sorted(commands._marks(session, r)) for r in waiting}
        confirmed = {r.id: commands.confirmations(session, r.id) for r in waiting}
        mine = list(
            session.scalars(
                select(Request)
                .where(Request.requested_by == ask.actor.username)
                .order_by(Request.id.desc())
                .limit(MY_REQUESTS_SHOWN)
            )
        )
        session.expunge_all()
    return ask.render(
        "queue.html",
        waiting=waiting,
        request_marks=marks,
        confirmed=confirmed,
        mine=mine,
        marks=MARK_WORDS,
        reviewers=ask.site.settings.people.reviewers,
        approvers=ask.site.settings.people.approvers,
    )


def review(ask: Ask) -> Response:
    with ask.site.db.transaction() as session:
        ask.site.commands.review(
            session, ask.actor, ask.param("request_id"), note=ask.form.get("note", ""),
            is_passed=ask.form.get("decision") != "refuse",
        )  # fmt: skip
    return redirect("/queue")


def approve(ask: Ask) -> Response:
    with ask.site.db.transaction() as session:
        ask.site.commands.approve(
            session, ask.actor, ask.param("request_id"), note=ask.form.get("note", ""),
            marks_named=ask.form_lists.get("marks", []),
        )  # fmt: skip
    return redirect("/queue")


def refuse(ask: Ask) -> Response:
    with ask.site.db.transaction() as session:
        ask.site.commands.refuse(
            session, ask.actor, ask.param("request_id"), note=ask.form.get("note", "")
        )
    return redirect("/queue")


ROUTES = [
    Route("/requests", page(new_request), methods=["POST"]),
    Route("/queue", page(queue_page)),
    Route("/requests/{request_id:int}/review", page(review), methods=["POST"]),
    Route("/requests/{request_id:int}/approve", page(approve), methods=["POST"]),
    Route("/requests/{request_id:int}/refuse", page(refuse), methods=["POST"]),
]
NAV = [("/queue", "Requests")]

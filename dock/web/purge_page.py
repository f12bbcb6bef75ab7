"""Retention and the one purge in the pages: what has expired and why, asking for a purge,
carrying out an approved one, and the tombstones with their undo.

Each action is the call `dock purge` makes (dock.retention.purge) with the signed-in person.
A purge is a request of the command layer (kind purge), reviewed and approved in the
requests queue by the roles [people] names; `?request=N` lists what that request covers
(what had expired when it was asked for), so its reviewers see exactly what would go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from starlette.responses import Response
from starlette.routing import Route

from dock.i18n import t
from dock.people.commands import Kind, RequestRefused, Step
from dock.people.models import Request
from dock.retention import policy, purge
from dock.web.site import Ask, page, redirect

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SHOWN = 200  # expired clips listed; the count is always whole


def retention_page(ask: Ask) -> Response:
    site, me = ask.site, ask.actor
    now = site.clock.now_utc()
    asked = ask.form.get("request", "")
    with site.db.transaction() as session:
        policy.compute_missing(session, site.settings.retention, me.journal_name, now)
        covered = _purge_request(session, int(asked)) if asked.isdigit() else None
        at = covered.requested_at_utc if covered else now
        found = purge.expired_clips(session, at, limit=SHOWN)
        count = purge.count_expired(session, at)
        mine = list(
            session.scalars(
                select(Request)
                .where(
                    Request.kind == Kind.PURGE,
                    Request.requested_by == me.username,
                    Request.state == Step.APPROVED,
                )
                .order_by(Request.id)
            )
        )
        tombs = purge.tombstones(session)
        session.expunge_all()
    return ask.render(
        "retention.html",
        expired=found,
        expired_count=count,
        covered=covered,
        approved=mine,
        tombstones=tombs,
        now=now,
    )


def _purge_request(session: Session, request_id: int) -> Request:
    request = session.get(Request, request_id)
    if request is None or request.kind != Kind.PURGE:
        raise RequestRefused(t("no purge request {id}; check the number", id=request_id))
    return request


def request_purge(ask: Ask) -> Response:
    site = ask.site
    with site.db.transaction() as session:
        policy.compute_missing(
            session, site.settings.retention, ask.actor.journal_name, site.clock.now_utc()
        )
        made = purge.request_purge(session, site.commands, ask.actor, why=ask.form.get("why", ""))
        made_id = made.id
    return redirect(f"/queue?requested={made_id}")


def carry_out(ask: Ask) -> Response:
    """As `dock purge --approved N`."""
    site, me = ask.site, ask.actor
    with site.db.transaction() as session:
        removed = purge.purge(
            session, site.store, site.settings.retention, site.commands, me,
            ask.param("request_id"),
        )  # fmt: skip
    return redirect(f"/retention?purged={len(removed)}")


def undo(ask: Ask) -> Response:
    clip_id = ask.param("clip_id")
    with ask.site.db.transaction() as session:
        purge.undo(
            session, ask.site.store, clip_id, why=ask.form.get("why", ""),
            actor=ask.actor.journal_name, now=ask.site.clock.now_utc(),
        )  # fmt: skip
    return redirect(f"/retention?restored={clip_id}")


ROUTES = [
    Route("/retention", page(retention_page)),
    Route("/retention/purge-request", page(request_purge), methods=["POST"]),
    Route("/retention/purge/{request_id:int}", page(carry_out), methods=["POST"]),
    Route("/retention/undo/{clip_id:int}", page(undo), methods=["POST"]),
]
NAV = [("/retention", "Retention")]

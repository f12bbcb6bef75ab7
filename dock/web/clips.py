"""Clip search by classification and recording time, one clip's page, and the classify form.

Search is dock.people.classification.search (indexed, pages of 50, newest first); the clip
page shows its confidentiality marks, the custodian's classify form and the request form.
Times typed in a form are the agency's (its zone), as the CLI's --since and --until.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import Route

from dock.db.models import Clip
from dock.errors import DockError
from dock.i18n import t
from dock.people.classification import FIELDS, PAGE_SIZE, classify, search
from dock.people.marks import marks_by_clip
from dock.people.roles import Permission
from dock.retention import holds, policy
from dock.retention.models import Tombstone
from dock.web.site import Ask, page, redirect

FIELD_WORDS = {
    "case_name": "case name",
    "case_number": "case number",
    "party": "party",
    "enforcement_type": "enforcement type",
    "category": "record category",
    "place": "place",
}
MARK_WORDS = {
    "state_secret": "state secret",
    "commercial_secret": "commercial secret",
    "personal_information": "personal information",
}


class BadTime(DockError):
    """A time in a form that is not a date or time."""


def agency_moment(text: str, zone: str) -> datetime | None:
    """A date or time typed in the agency's zone (2026-12-01 or 2026-12-01T08:00), in UTC."""
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadTime(
            t("{text} is not a date or time; write 2026-12-01 or 2026-12-01T08:00", text=repr(text))
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


def clips_page(ask: Ask) -> Response:
    zone = ask.site.settings.people.time_zone
    filters = {name: ask.form[name] for name in FIELDS if ask.form.get(name, "").strip()}
    since = agency_moment(ask.form.get("since", ""), zone)
    until = agency_moment(ask.form.get("until", ""), zone)
    page_number = max(1, int(ask.form.get("page", "1") or 1))
    with ask.site.db.transaction() as session:
        found = search(session, filters, since=since, until=until, page=page_number)
    query = {k: v for k, v in ask.form.items() if k != "page" and v}
    return ask.render(
        "clips.html",
        found=found,
        form=ask.form,
        fields=FIELD_WORDS,
        marks=MARK_WORDS,
        page_number=page_number,
        has_next=len(found) == PAGE_SIZE,
        query=query,
        categories=ask.site.settings.people.record_categories,
    )


def clip_page(ask: Ask) -> Response:
    clip_id = ask.param("clip_id")
    with ask.site.db.transaction() as session:
        clip = session.get(Clip, clip_id)
        if clip is None:
            return ask.render("error.html", status=404, message=t("no such clip; check the number"))
        session.expunge(clip)
        marks = marks_by_clip(session, [(clip.id, clip.case_number)])[clip.id]
        kept = policy.ends_of(session, [clip_id]).get(clip_id)
        is_held = holds.is_held(session, clip_id)
        tomb = session.get(Tombstone, clip_id)
        session.expunge_all()
    return ask.render(
        "clip.html",
        clip=clip,
        clip_marks=marks,
        kept=kept,
        is_held=is_held,
        tomb=tomb,
        fields=FIELD_WORDS,
        marks=MARK_WORDS,
        may_classify=ask.actor.has(Permission.CLASSIFY),
        may_request=ask.actor.has(Permission.REQUEST),
        categories=ask.site.settings.people.record_categories,
    )


def classify_clip(ask: Ask) -> Response:
    clip_id = ask.param("clip_id")
    changes: dict[str, str | None] = {
        name: ask.form[name].strip() or None for name in FIELDS if name in ask.form
    }
    with ask.site.db.transaction() as session:
        classify(
            session, ask.actor, clip_id, changes,
            categories=ask.site.settings.people.record_categories,
            retention=ask.site.settings.retention, clock=ask.site.clock,
            why=ask.form.get("why", ""),
        )  # fmt: skip
    return redirect(f"/clips/{clip_id}?classified=1")


ROUTES = [
    Route("/clips", page(clips_page)),
    Route("/clips/{clip_id:int}", page(clip_page)),
    Route("/clips/{clip_id:int}/classify", page(classify_clip), methods=["POST"]),
]
NAV = [("/clips", "Clips")]

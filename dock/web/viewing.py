"""Viewing an approved clip in the page: registered once, streamed from the store by ranges.

/view/CLIP opens the viewing (dock.people.viewing.open_view: the approval is checked and the
register row written) and keeps it in the session; the page's <video> then asks
/stream/CLIP for HTTP ranges, each read in place from the evidence store by read_range,
which checks the approval again before any byte, so an approval that expires mid-film
stops the stream. No approval: 403 and nothing streamed. The response says no-store, so
the browser keeps no copy behind.
"""

from __future__ import annotations

import mimetypes
import re

from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from dock.db.models import Clip
from dock.i18n import t
from dock.people.commands import NoLiveApproval
from dock.people.marks import marks_by_clip
from dock.people.viewing import RangeNotSatisfiable, open_view, read_range
from dock.web.clips import MARK_WORDS
from dock.web.site import Ask, page

RANGE = re.compile(r"bytes=(\d*)-(\d*)")
NO_COPY = {"Cache-Control": "no-store", "Accept-Ranges": "bytes"}


def view_page(ask: Ask) -> Response:
    clip_id = ask.param("clip_id")
    site = ask.site
    with site.db.transaction() as session:
        view = open_view(session, site.commands, ask.actor, clip_id, site.store)
        clip = session.get(Clip, clip_id)
        assert clip is not None  # open_view found it
        marks = marks_by_clip(session, [(clip.id, clip.case_number)])[clip.id]
        session.expunge(clip)
    ask.web.views[clip_id] = view
    return ask.render("view.html", clip=clip, view=view, clip_marks=marks, marks=MARK_WORDS)


def stream(ask: Ask) -> Response:
    clip_id = ask.param("clip_id")
    view = ask.web.views.get(clip_id)
    if view is None:
        return PlainTextResponse(
            t("open the clip's viewing page first: each viewing is registered"),
            status_code=403, headers=NO_COPY,
        )  # fmt: skip
    size = view.size_bytes
    wanted = RANGE.fullmatch(ask.request.headers.get("range", "").strip())
    start, end = 0, None
    if wanted and wanted.group(1):
        start = int(wanted.group(1))
        end = int(wanted.group(2)) if wanted.group(2) else None
    elif wanted and wanted.group(2):  # bytes=-N: the last N bytes
        start, end = max(0, size - int(wanted.group(2))), None
    site = ask.site
    try:
        with site.db.transaction() as session:
            chunks = read_range(session, site.commands, ask.actor, view, site.store, start, end)
            clip = session.get(Clip, clip_id)
            media_type = mimetypes.guess_type(clip.source_path)[0] if clip else None
    except NoLiveApproval as refusal:
        ask.web.views.pop(clip_id, None)
        return PlainTextResponse(str(refusal), status_code=403, headers=NO_COPY)
    except RangeNotSatisfiable as outside:
        return PlainTextResponse(
            str(outside), status_code=416, headers={**NO_COPY, "Content-Range": f"bytes */{size}"}
        )
    last = size - 1 if end is None else min(end, size - 1)
    headers = {**NO_COPY, "Content-Length": str(last - start + 1)}
    if wanted:
        headers["Content-Range"] = f"bytes {start}-{last}/{size}"
    return StreamingResponse(
        chunks,
        status_code=206 if wanted else 200,
        headers=headers,
        media_type=media_type if media_type and media_type.startswith("video/") else "video/mp4",
    )


ROUTES = [
    Route("/view/{clip_id:int}", page(view_page)),
    Route("/stream/{clip_id:int}", page(stream)),
]
NAV: list[tuple[str, str]] = []

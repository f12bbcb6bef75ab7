"""The journal as people read it: who did what, when and why, newest first, in pages.

Pages are windows of row ids (the journal is append-only and its ids only grow), read with
dock.journal.read_after, so a page costs the same at row 10 as at row ten million.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from starlette.responses import Response
from starlette.routing import Route

from dock import journal
from dock.db.models import JournalRow
from dock.web.site import Ask, page

PAGE_ROWS = 50
WHY_KEYS = ("reason", "note", "problem")  # where an event keeps its why, if it has one


@dataclass(frozen=True)
class Line:
    id: int
    at_utc: datetime
    actor: str
    type: str
    bay: int | None
    device: str | None
    why: str
    details: str


def journal_page_view(ask: Ask) -> Response:
    with ask.site.db.transaction() as session:
        head = int(session.scalar(select(func.max(JournalRow.id))) or 0)
        before = min(int(ask.form.get("before") or head + 1), head + 1)
        start = max(0, before - 1 - PAGE_ROWS)
        entries = journal.read_after(session, start, limit=before - 1 - start)
    lines = [_line(e) for e in reversed(entries)]
    return ask.render(
        "journal.html",
        lines=lines,
        newer=before + PAGE_ROWS if before <= head else None,
        older=start + 1 if start > 0 else None,
    )


def _line(entry: journal.JournalEntry) -> Line:
    why = next((str(entry.data[k]) for k in WHY_KEYS if entry.data.get(k)), "")
    details = ", ".join(f"{k}={_short(v)}" for k, v in entry.data.items() if k not in WHY_KEYS)
    return Line(
        entry.id, entry.at_utc, entry.actor, entry.type, entry.bay, entry.device, why, details
    )


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


ROUTES = [Route("/journal", page(journal_page_view))]
NAV = [("/journal", "Journal")]

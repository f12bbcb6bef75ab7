"""The bays as their lights show them, kept live by server-sent events.

Each bay's light is the service's own projection (dock.lights, saved beside its journal
cursor) drawn with dock.lights.pattern_for, so the page and the LED cannot disagree; without
a saved projection the state comes from the bays table alone, as `dock bays` does. A bay in
technician mode says so (awaited after a long press, or the technician's name from the
journal's technician.mode_entered row), and a REFLASHING bay its progress, both from the same
projection. The events stream says "changed" whenever the journal grows; the page then
fetches the rows again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sse_starlette.sse import EventSourceResponse
from starlette.responses import Response
from starlette.routing import Route

from dock.bays.states import BayState
from dock.db.models import Bay, JournalRow
from dock.lights import BayLight, pattern_for, saved_lights
from dock.web.site import Ask, Site, page

POLL_S = 0.5
# What each light pattern says, in words (translated by the catalog); offloading_2_of_4
# and reflashing_3_of_4 are their patterns' kinds with the progress shown beside.
LIGHT_WORDS = {
    "off": "off",
    "working": "working (green, blinking)",
    "ready": "ready (green)",
    "attention": "needs attention (amber)",
    "note_needed": "voice note needed (amber, blinking)",
    "note_recording": "recording a voice note (amber and green)",
    "fault": "fault (red)",
    "reflashing": "reflashing (red and green)",
    "offloading": "offloading (green flashes)",
    "awaiting_two_staff": "waiting for two staff (amber flashes)",
    "technician_awaited": "waiting for a technician (red and amber, quick)",
    "technician_mode": "technician mode (red and amber)",
}
AWAITED = "awaited"  # BayView.technician before anyone signed in


@dataclass(frozen=True)
class BayView:
    number: int
    state: str
    light: str  # the pattern's name: ready, attention, offloading_2_of_4, ...
    light_words: str  # a LIGHT_WORDS message id
    colour: str  # its first colour: off, green, amber, red
    is_blinking: bool
    device: str
    reason: str
    progress_pct: int | None
    technician: str  # "" outside technician mode, AWAITED, or the technician's user name


def bay_views(site: Site) -> list[BayView]:
    with site.db.transaction() as session:
        rows = {b.number: b for b in session.scalars(select(Bay))}
    numbers = sorted(set(rows) | set(range(1, site.settings.bays.count + 1)))
    lights = saved_lights(site.data_dir, numbers) or {}
    views = []
    for number in numbers:
        row = rows.get(number)
        state = BayState(row.state) if row is not None else BayState.EMPTY
        light = lights.get(number) or BayLight(state=state)
        pattern = pattern_for(light)
        views.append(
            BayView(
                number=number,
                state=state.value,
                light=pattern.name,
                light_words=LIGHT_WORDS[
                    pattern.name.split("_")[0] if "_of_" in pattern.name else pattern.name
                ],
                colour=pattern.steps[0][0].value,
                is_blinking=len(pattern.steps) > 1,
                device=(row.device_serial or "") if row is not None else "",
                reason=row.reason if row is not None and row.reason != state.upper() else "",
                progress_pct=None if light.progress is None else round(light.progress * 100),
                technician=(
                    light.technician_name or "?"  # "?": saved by a dock before names
                    if light.technician == "signed_in"
                    else AWAITED
                    if light.technician
                    else ""
                ),  # fmt: skip
            )
        )
    return views


def journal_head(site: Site) -> int:
    with site.db.transaction() as session:
        return int(session.scalar(select(func.max(JournalRow.id))) or 0)


def bays_page(ask: Ask) -> Response:
    return ask.render("bays.html", bays=bay_views(ask.site))


def bays_rows(ask: Ask) -> Response:
    return ask.render("bays_rows.html", bays=bay_views(ask.site))


def events(ask: Ask) -> Response:
    site, request = ask.site, ask.request

    async def changes() -> AsyncIterator[dict[str, str]]:
        last = None
        while not await request.is_disconnected():
            head = await asyncio.to_thread(journal_head, site)
            if head != last:
                if last is not None:
                    yield {"event": "changed", "data": str(head)}
                last = head
            await asyncio.sleep(POLL_S)

    return EventSourceResponse(changes())


ROUTES = [
    Route("/", page(bays_page)),
    Route("/bays/rows", page(bays_rows)),
    Route("/events", page(events)),
]
NAV = [("/", "Bays")]

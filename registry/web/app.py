"""The dashboard: one page of tables, refreshed by server-sent events when the database changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import sessionmaker
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from firmware_bridge import reporting
from registry import views
from registry.api import API_ROUTES
from registry.web import i18n

HERE = Path(__file__).parent
POLL_SECONDS = 0.5


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.globals["light_colour"] = reporting.light_colour
    return env


def create_app(db: Engine | str) -> Starlette:
    """The web app over a registry database (an Engine or a URL), with the JSON API mounted.

    The API is part of the package, not an optional extra: an ImportError in it is a bug and
    must stop the app, not silently drop `dock audit verify --against-registry`'s routes.
    """
    engine = create_engine(db) if isinstance(db, str) else db
    env = _env()

    def render(request: Request, name: str) -> str:
        lang = i18n.choose(request.query_params.get("lang"), request.headers.get("accept-language"))
        ctx: dict[str, Any] = {"t": i18n.STRINGS[lang], "lang": lang, "d": views.dashboard(engine)}
        return env.get_template(name).render(**ctx)

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(render(request, "dashboard.html"))

    async def fragment(request: Request) -> HTMLResponse:
        return HTMLResponse(render(request, "sections.html"))

    async def events(request: Request) -> EventSourceResponse:
        async def gen() -> AsyncIterator[dict[str, str]]:
            last = None
            while not await request.is_disconnected():
                marker = await asyncio.to_thread(views.change_marker, engine)
                if marker != last:
                    if last is not None:
                        yield {"event": "changed", "data": marker}
                    last = marker
                await asyncio.sleep(POLL_SECONDS)

        return EventSourceResponse(gen())

    routes: list[Any] = [
        Route("/", page),
        Route("/fragment", fragment),
        Route("/events", events),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    routes.extend(API_ROUTES)
    app = Starlette(routes=routes)
    app.state.sessions = sessionmaker(engine, expire_on_commit=False)  # the API reads through it
    return app

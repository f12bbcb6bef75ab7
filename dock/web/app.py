"""The custodians' pages: a Starlette app over the dock's database, store and command layer.

Adding a page: write a module here that exposes ROUTES (a list of starlette Routes whose
endpoints are `site.page(handler)`) and NAV (a list of (path, message id) for the menu, may
be empty), and add the module to PAGES below; nothing else needs to change. Handlers call
dock.people (the one command layer) and render a template; they hold no rule of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from dock.i18n import choose
from dock.offload.store import EvidenceStore
from dock.people.commands import Commands
from dock.web import (
    approvals,
    auth,
    bays,
    clips,
    exports,
    firmware_page,
    holds_page,
    journal_page,
    purge_page,
    report_page,
    sampling_page,
    viewing,
)
from dock.web.sessions import Sessions, load_secret
from dock.web.site import Site, install

if TYPE_CHECKING:
    from dock.clock import Clock
    from dock.config import Settings
    from dock.db.database import Database

HERE = Path(__file__).parent
PAGES: list[Any] = [
    auth, bays, clips, approvals, viewing, exports, journal_page, report_page,
    holds_page, purge_page, sampling_page, firmware_page,
]  # fmt: skip


def create_app(
    settings: Settings,
    db: Database,
    *,
    clock: Clock | None = None,
    store: EvidenceStore | None = None,
) -> Starlette:
    """The pages over an open database; the store defaults to the data folder's own."""
    if clock is None:
        from dock.clock import SystemClock

        clock = SystemClock()
    choose(settings.people.language, settings.people.time_zone)
    data_dir = settings.dock.data_dir
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
    )
    install(env)
    site = Site(
        settings=settings,
        db=db,
        store=store or EvidenceStore(data_dir / "store", sweeps_temp_files=False),
        commands=Commands(settings.people, clock),
        clock=clock,
        sessions=Sessions(
            load_secret(data_dir), settings.web.session_minutes * 60.0, clock.monotonic_s
        ),
        templates=env,
        nav=tuple(item for module in PAGES for item in module.NAV),
    )
    routes = [route for module in PAGES for route in module.ROUTES]
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))
    app = Starlette(routes=routes)
    app.state.site = site
    return app

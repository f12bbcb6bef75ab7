"""What every page handler works with, and the one wrapper that makes a handler a page.

`page(handler)` does for every page what no page should do itself: find the session from
its signed cookie, send a visitor who has not signed in to /login, read a POST form and
refuse it without the session's CSRF token, run the handler in a worker thread (the
database and argon2 block), and turn an expected failure (a DockError) into one line on an
error page. Handlers only turn the form into a call of the command layer (dock.people) and
render the answer.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from jinja2 import Environment
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from dock.errors import DockError
from dock.i18n import local_time, t
from dock.people.commands import NoLiveApproval
from dock.people.roles import NotAllowed
from dock.retention.policy import shown_rule
from dock.web.sessions import COOKIE_NAME, Sessions, WebSession

if TYPE_CHECKING:
    from dock.clock import Clock
    from dock.config import Settings
    from dock.db.database import Database
    from dock.offload.store import EvidenceStore
    from dock.people.commands import Commands
    from dock.people.roles import Actor

log = logging.getLogger(__name__)
MAX_FORM_BYTES = 64 * 1024
Handler = Callable[["Ask"], Response]


@dataclass(frozen=True)
class Site:
    """The dock the pages serve: its settings, database, store and the command layer."""

    settings: Settings
    db: Database
    store: EvidenceStore
    commands: Commands
    clock: Clock
    sessions: Sessions
    templates: Environment
    nav: tuple[tuple[str, str], ...]  # (path, message id) of each page in the menu

    @property
    def data_dir(self) -> Path:
        return self.settings.dock.data_dir


@dataclass
class Ask:
    """One request to a page, with its session and (when signed in) its person."""

    request: Request
    site: Site
    web: WebSession
    form: dict[str, str]
    form_lists: dict[str, list[str]] = field(default_factory=dict)  # every value of a key

    @property
    def actor(self) -> Actor:
        assert self.web.actor is not None  # page() let only signed-in people through
        return self.web.actor

    def param(self, name: str) -> int:
        return int(self.request.path_params[name])

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        site = self.site
        html = site.templates.get_template(template).render(
            ask=self,
            actor=self.web.actor,
            csrf=self.web.csrf,
            nav=site.nav,
            here=self.request.url.path,
            agency=site.settings.dock.agency,
            lang=site.settings.people.language,
            zone=site.settings.people.time_zone,
            **values,
        )
        return HTMLResponse(html, status_code=status)


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)  # after a POST: the browser GETs it


def page(handler: Handler, *, is_open: bool = False) -> Callable[[Request], Any]:
    """The endpoint for a handler; is_open pages (sign-in) need no signed-in person."""

    async def endpoint(request: Request) -> Response:
        site: Site = request.app.state.site
        found = site.sessions.find(request.cookies.get(COOKIE_NAME))
        is_new, web = found is None, found
        if request.method == "POST":
            body = await request.body()
            pairs = parse_qsl(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
            token = dict(pairs).get("csrf", "")
            if web is None or not hmac.compare_digest(token.encode(), web.csrf.encode()):
                return PlainTextResponse(
                    t("this form has expired or did not come from these pages; reload the "
                      "page and send it again"), status_code=403,
                )  # fmt: skip
        else:
            pairs = list(request.query_params.multi_items())
        if web is None or web.actor is None:
            if not is_open:
                return redirect("/login?next=" + quote(request.url.path))
            web = web or site.sessions.new()  # an anonymous one, for the sign-in's token
        assert web is not None
        lists: dict[str, list[str]] = {}
        for key, value in pairs:
            lists.setdefault(key, []).append(value)
        ask = Ask(request, site, web, dict(pairs), lists)
        try:
            response: Response = await run_in_threadpool(handler, ask)
        except (NotAllowed, NoLiveApproval) as refusal:
            response = ask.render("error.html", status=403, message=str(refusal))
        except DockError as error:
            response = ask.render("error.html", status=400, message=str(error))
        if is_new or ask.web is not web:  # a first visit, or a sign-in's fresh session
            set_cookie(response, request, site, ask.web)
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


def set_cookie(response: Response, request: Request, site: Site, web: WebSession) -> None:
    response.set_cookie(
        COOKIE_NAME,
        site.sessions.cookie_of(web),
        max_age=int(site.sessions.lifetime_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def install(env: Environment) -> None:
    """The names every template uses: t() for every text, local_time() for every time,
    shown_rule() for a stored retention rule."""
    env.globals["t"] = t
    env.globals["local_time"] = local_time
    env.globals["shown_rule"] = shown_rule

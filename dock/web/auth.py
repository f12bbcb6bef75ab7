"""Signing in and out with a staff account (dock.people.accounts: argon2, lock-out)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from dock.people.accounts import SignInRefused, authenticate
from dock.web.sessions import COOKIE_NAME
from dock.web.site import Ask, page, redirect


def sign_in_form(ask: Ask) -> Response:
    if ask.web.actor is not None:
        return redirect("/")
    return ask.render("login.html", next=_next(ask), username="", message="")


def sign_in(ask: Ask) -> Response:
    site = ask.site
    username = ask.form.get("username", "").strip()
    try:
        actor = authenticate(
            site.db,
            username,
            ask.form.get("password", ""),
            limits=site.settings.people,
            clock=site.clock,
        )
    except SignInRefused as refusal:  # counted (and maybe locked) by authenticate
        return ask.render(
            "login.html", status=401, next=_next(ask), username=username, message=str(refusal)
        )
    site.sessions.end(ask.web)
    ask.web = site.sessions.new(actor)  # a new id: the one before sign-in is never trusted
    return redirect(_next(ask))


def sign_out(ask: Ask) -> Response:
    ask.site.sessions.end(ask.web)
    response = redirect("/login")
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


def _next(ask: Ask) -> str:
    """Where to go after signing in: only a path of these pages, never another site."""
    wanted = ask.form.get("next", "/")
    return wanted if wanted.startswith("/") and not wanted.startswith("//") else "/"


ROUTES = [
    Route("/login", page(sign_in_form, is_open=True), methods=["GET"]),
    Route("/login", page(sign_in, is_open=True), methods=["POST"]),
    Route("/logout", page(sign_out), methods=["POST"]),
]
NAV: list[tuple[str, str]] = []

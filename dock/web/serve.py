"""Serving the pages with uvicorn: alone (`dock web`) or from a thread of `dock serve`.

`start_web(settings, db)` returns only once the socket listens (or raises WebNotStarted in
one line), and gives back the function that stops the server and joins its thread, so the
service can stop the pages with everything else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import uvicorn

from dock.errors import DockError
from dock.web.app import create_app

if TYPE_CHECKING:
    from dock.clock import Clock
    from dock.config import Settings
    from dock.db.database import Database

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class WebNotStarted(DockError):
    """The pages could not listen where [web] listen says."""


def host_and_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def server_for(
    settings: Settings, db: Database, *, listen: str | None = None, clock: Clock | None = None
) -> uvicorn.Server:
    host, port = host_and_port(listen or settings.web.listen)
    tls = settings.web.tls_cert_file and settings.web.tls_key_file
    config = uvicorn.Config(
        create_app(settings, db, clock=clock),
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=settings.web.tls_cert_file if tls else None,
        ssl_keyfile=settings.web.tls_key_file if tls else None,
        lifespan="off",
    )
    return uvicorn.Server(config)


def start_web(
    settings: Settings, db: Database, *, listen: str | None = None, clock: Clock | None = None
) -> Callable[[], None]:
    """Serve the pages from a daemon thread; returns stop() (idempotent)."""
    server = server_for(settings, db, listen=listen, clock=clock)
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
        where = listen or settings.web.listen
        raise WebNotStarted(
            f"web: cannot listen on {where} (in use, or not an address of this dock); "
            "change [web] listen"
        )

    def stop() -> None:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)

    return stop


def serve(settings: Settings, db: Database, *, listen: str | None = None) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM (uvicorn handles both)."""
    server_for(settings, db, listen=listen).run()

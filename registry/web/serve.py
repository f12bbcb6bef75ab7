"""`dock-registry serve`: uvicorn running the dashboard, plus one ingest worker in this process.

Kept here until registry/cli.py wires it as the `serve` subcommand; the worker is whatever
callable runs helper B's broker consumer until its stop Event is set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import uvicorn

from registry.db import open_engine
from registry.web.app import create_app


def serve(
    database_url: str,
    host: str,
    port: int,
    worker: Callable[[threading.Event], None] | None = None,
) -> None:
    """Serve until interrupted; the ingest worker is stopped and joined when the server stops."""
    engine = open_engine(database_url)
    stop = threading.Event()
    thread = None
    if worker is not None:
        thread = threading.Thread(target=worker, args=(stop,), name="ingest", daemon=True)
        thread.start()
    try:
        uvicorn.run(create_app(engine), host=host, port=port, log_level="info")
    finally:
        stop.set()
        if thread is not None:
            thread.join(10)

"""`dock-registry serve`: uvicorn running the dashboard, plus one ingest worker in this process.

registry/cli.py passes registry.subscriber.run_worker as `worker`; uvicorn handles SIGTERM and
SIGINT, and when it returns the worker's stop Event is set and the worker joined.
"""

from __future__ import annotations

import signal
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
    # uvicorn re-raises the signal it stopped on once it is done; a no-op handler here turns
    # that into a clean exit (status 0) after the worker is joined, not a death by SIGTERM.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        uvicorn.run(create_app(engine), host=host, port=port, log_level="info")
    finally:
        stop.set()
        if thread is not None:
            thread.join(10)

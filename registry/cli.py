"""`dock-registry --config registry.toml migrate|ingest|serve|verify-dock D`: the registry's commands.

`serve` runs the dashboard and one ingest worker in one process (uvicorn stops both on
SIGTERM); `ingest` runs one more worker, for a site that needs several.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from pathlib import Path

from sqlalchemy import select

from dock.clock import SystemClock
from dock.errors import DockError
from registry.config import load_registry_settings
from registry.db import migrate, open_engine, session_factory
from registry.models import Alert, Dock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dock-registry")
    parser.add_argument("--config", type=Path, default=Path("registry.toml"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or upgrade the registry's tables")
    commands.add_parser("ingest", help="run one MQTT worker until stopped")
    serve = commands.add_parser("serve", help="the dashboard and one MQTT worker together")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    verify = commands.add_parser("verify-dock", help="a dock's verified head and chain alerts")
    verify.add_argument("dock")
    args = parser.parse_args(argv)
    try:
        settings = load_registry_settings(args.config)
        engine = open_engine(settings.database_url)
        if args.command == "migrate":
            migrate(engine)
            return 0
        sessions = session_factory(engine)
        if args.command == "verify-dock":
            with sessions() as session:
                dock = session.get(Dock, args.dock)
                if dock is None:
                    print(f"dock {args.dock!r} has never reported to this registry")
                    return 1
                alerts = session.scalars(
                    select(Alert).where(Alert.dock_id == dock.id, Alert.cleared_at.is_(None))
                ).all()
                print(f"dock {dock.id}: verified up to row {dock.verified_head_id}")
                for alert in alerts:
                    print(f"  {alert.kind}: {alert.text}")
                return 1 if any(a.kind == "chain_mismatch" for a in alerts) else 0
        from registry.subscriber import run_worker

        migrate(engine)
        clock = SystemClock()
        # One line per refused message or lost broker: the operator's view of hostile input.
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

        def worker(stop: threading.Event) -> None:
            run_worker(settings, sessions, clock, stop)

        if args.command == "serve":
            from registry.web.serve import serve as serve_web

            serve_web(settings.database_url, args.host, args.port, worker=worker)
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            worker(stop)
        return 0
    except DockError as error:
        print(f"dock-registry: {error}", file=sys.stderr)
        return 2

"""`dock-registry --config registry.toml migrate|ingest|verify-dock D`: the registry's commands."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from sqlalchemy import select

from dock.clock import SystemClock
from dock.errors import DockError
from registry.config import load_registry_settings
from registry.db import migrate, open_engine, session_factory
from registry.ingest import Ingestor
from registry.models import Alert, Dock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dock-registry")
    parser.add_argument("--config", type=Path, default=Path("registry.toml"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or upgrade the registry's tables")
    commands.add_parser("ingest", help="run one MQTT worker until stopped")
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
        from registry.subscriber import Subscriber

        migrate(engine)
        ingestor = Ingestor(
            sessions=sessions,
            prefix=settings.broker.topic_prefix,
            clock=SystemClock(),
            public_keys=settings.dock_keys,
            max_payload_bytes=settings.max_payload_bytes,
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        worker = Subscriber(settings.broker, ingestor)
        worker.start()
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        worker.stop()
        return 0
    except DockError as error:
        print(f"dock-registry: {error}", file=sys.stderr)
        return 2

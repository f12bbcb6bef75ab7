"""Opening the dock's database: SQLite in WAL mode, durable, migrated at start.

Why these settings:
- WAL lets the CLI read while the service writes; synchronous=FULL makes a commit survive a
  power cut (the default NORMAL in WAL may lose the last commits, and a lost commit could
  be the record of a clip already deleted from a recorder).
- Every transaction starts with BEGIN IMMEDIATE: it takes the write lock up front, so two
  writers (bay threads, or the CLI beside the service) wait for each other instead of one
  failing half-way with "database is locked" after reading a stale snapshot. Keep
  transactions short: never hold one open across link requests or file copies.
- Foreign keys are off by default in SQLite; the ledger relies on them.
Migrations (Alembic, shipped inside the package) run only when the stored revision is not
the newest one shipped: one stdlib sqlite3 query decides, because importing Alembic costs
more than most commands take (seconds on a Raspberry Pi).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dock.errors import DockError

if TYPE_CHECKING:
    # SQLAlchemy is imported where an engine is made, not here: the CLI's read-only
    # commands import this module for the revision check and never need it.
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from dock.events import EventBus

DB_FILE_NAME = "dock.sqlite3"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Revision files are named NNNN_what.py and NNNN is their Alembic revision id, so the newest
# one shipped is known without Alembic (a test checks it against Alembic's own head).
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")
# Where journal.append leaves the events of the open transaction for publishing after commit.
APPENDED_EVENTS = "dock.appended_events"
BUSY_TIMEOUT_MS = 10_000


class DatabaseError(DockError):
    """The database cannot be opened or migrated."""


def make_engine(url_or_path: str | Path) -> Engine:
    """An engine for a SQLite file path (or any SQLAlchemy URL, e.g. PostgreSQL)."""
    from sqlalchemy import create_engine, event

    url = str(url_or_path)
    if "://" not in url:
        url = f"sqlite:///{url}"
    if not url.startswith("sqlite"):
        return create_engine(url)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def newest_revision() -> str:
    """The revision the code expects: the highest-numbered migration shipped."""
    names = (_REVISION_FILE.match(p.name) for p in (MIGRATIONS_DIR / "versions").iterdir())
    return max(match.group(1) for match in names if match)


def stored_revision(db_path: Path) -> str | None:
    """The schema revision recorded in the file, or None when there is none (no file yet)."""
    if not db_path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"{db_path.absolute().as_uri()}?mode=ro", uri=True)) as raw:
            row = raw.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None  # no alembic_version table yet: an empty or pre-migration file
    return row[0] if row else None


def is_schema_current(db_path: Path) -> bool:
    return stored_revision(db_path) == newest_revision()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@dataclass
class Database:
    """The engine, its sessions, and the bus that hears about committed journal rows.

    Any session from `sessions` publishes the events it journaled to `bus` right after its
    transaction commits, and forgets them on rollback: a listener (MQTT, LEDs) never reports
    something a rollback undid. Limitation: events journaled inside a SAVEPOINT that rolls
    back are still published when the outer transaction commits; journal outside them.
    """

    engine: Engine
    sessions: sessionmaker[Session]
    bus: EventBus | None = None

    def __post_init__(self) -> None:
        from sqlalchemy import event

        event.listen(self.sessions, "after_commit", self._publish_committed)
        event.listen(self.sessions, "after_rollback", _forget_events)

    def _publish_committed(self, session: Session) -> None:
        appended = session.info.pop(APPENDED_EVENTS, [])
        if self.bus is not None:
            for happened in appended:
                self.bus.publish(happened)

    def session(self) -> Session:
        return self.sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A new session in one transaction: commits at the end, rolls back on an exception."""
        with self.sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


def _forget_events(session: Session) -> None:
    session.info.pop(APPENDED_EVENTS, None)


def open_database(data_dir: Path, bus: EventBus | None = None) -> Database:
    """Create data_dir if needed (private to the service), open and migrate the database."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise DatabaseError(
            f"cannot create the data folder {data_dir}: {error.strerror}; "
            "set dock.data_dir to a writable folder"
        ) from None
    if not os.access(data_dir, os.W_OK):
        raise DatabaseError(
            f"the data folder {data_dir} is not writable: set dock.data_dir or fix its owner"
        )
    from sqlalchemy.orm import sessionmaker

    engine = make_engine(data_dir / DB_FILE_NAME)
    if not is_schema_current(data_dir / DB_FILE_NAME):
        migrate(engine)
    return Database(engine, sessionmaker(engine, expire_on_commit=False), bus)

"""Registry tests: a real PostgreSQL 15 per session (a fresh database per test) and SQLite.

`registry_url` runs each test that takes it twice, once on each database; `ingestor` builds
the consumer over it; `dock_journal` is a real dock's journal (tests/registry/dockjournal.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dock.clock import FixedClock
from registry.db import migrate, open_engine, session_factory
from registry.ingest import Ingestor
from tests.registry.dockjournal import PREFIX, START, DockJournal
from tests.servers import postgres as _postgres

postgres_server = _postgres.postgres_server
postgres_url = _postgres.postgres_url


@pytest.fixture(params=["postgresql", "sqlite"])
def registry_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_url: Callable[[], str],  # noqa: F811 - the fixture, by name
) -> str:
    if request.param == "postgresql":
        return postgres_url()
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def make_ingestor(registry_url: str) -> Iterator[Callable[..., Ingestor]]:
    engines = []

    def make(public_keys: dict[str, str] | None = None) -> Ingestor:
        engine = open_engine(registry_url)
        engines.append(engine)
        migrate(engine)
        return Ingestor(
            sessions=session_factory(engine),
            prefix=PREFIX,
            clock=FixedClock(START),
            public_keys=public_keys or {},
        )

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def ingestor(make_ingestor: Callable[..., Ingestor]) -> Ingestor:
    return make_ingestor()


@pytest.fixture
def dock_journal(tmp_path: Path) -> Iterator[DockJournal]:
    dock = DockJournal(tmp_path / "dock")
    yield dock
    dock.close()

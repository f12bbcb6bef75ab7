"""The registry's migration builds the same tables on PostgreSQL 15 and on SQLite."""

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from registry.db import migrate, open_engine
from registry.models import Base


def _tables(url: str) -> set[str]:
    engine = open_engine(url)
    migrate(engine)
    migrate(engine)  # a second run is a no-op
    names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_migration_creates_every_model_table_on_postgres_and_sqlite(
    postgres_url: Callable[[], str], tmp_path: Path
) -> None:
    expected = set(Base.metadata.tables)
    assert expected <= _tables(postgres_url())
    assert expected <= _tables(f"sqlite:///{tmp_path / 'registry.db'}")

"""The PostgreSQL fixture gives each caller its own empty database on a real server."""

from collections.abc import Callable

import sqlalchemy as sa


def test_each_database_from_the_fixture_is_fresh_and_separate(
    postgres_url: Callable[[], str],
) -> None:
    first, second = postgres_url(), postgres_url()
    assert first != second
    engine = sa.create_engine(first)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x int)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        assert conn.execute(sa.text("SELECT version()")).scalar_one().startswith("PostgreSQL 15")
    engine.dispose()
    other = sa.create_engine(second)
    with other.connect() as conn:
        tables = conn.execute(
            sa.text("SELECT count(*) FROM pg_tables WHERE tablename = 't'")
        ).scalar_one()
    other.dispose()
    assert tables == 0

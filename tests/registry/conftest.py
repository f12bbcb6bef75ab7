"""Registry tests: a real PostgreSQL 15 per session (a fresh database per test) and SQLite."""

from tests.servers.postgres import postgres_server, postgres_url  # noqa: F401

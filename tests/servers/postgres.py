"""A real PostgreSQL 15 (Debian's /usr/lib/postgresql/15/bin) on a loopback port, for the registry.

One server per test session (initdb is slow): its own data directory, 127.0.0.1 on a free
port, the unix socket inside the data directory, trust authentication. As root the server
runs as `postgres` through `runuser`, because PostgreSQL refuses to run as root. Each test
(or module) asks `postgres_url` for a FRESH database (CREATE DATABASE), so tests never see
each other's rows. The server is always stopped at teardown.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT_S = 30.0
_counter = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    user: str
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.data_dir.parent / "postgres.log", "ab")  # noqa: SIM115 - held by the child
        self.process = subprocess.Popen(
            _as_postgres(
                [
                    str(PG_BIN / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.data_dir),
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=200",
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "postgres exited at start: "
                    + (self.data_dir.parent / "postgres.log").read_text(errors="replace")[-2000:]
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if self._psql("SELECT 1").returncode == 0:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres did not accept connections on port {self.port}")

    def _psql(self, sql: str) -> subprocess.CompletedProcess[bytes]:
        import psycopg

        try:
            with psycopg.connect(
                host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
            ) as conn:
                conn.execute(sql)  # type: ignore[arg-type]
            return subprocess.CompletedProcess([], 0)
        except psycopg.Error as exc:
            return subprocess.CompletedProcess([], 1, stderr=str(exc).encode())

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL (psycopg 3 driver)."""
        result = self._psql(f'CREATE DATABASE "{name}"')
        if result.returncode != 0:
            raise RuntimeError(f"CREATE DATABASE {name} failed: {result.stderr!r}")
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: smart shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


def start_postgres(base: Path) -> PostgresServer:
    """initdb a new cluster under `base` and start it.

    As root, `base` must be reachable by `postgres`: pytest keeps /tmp/pytest-of-root at
    0700 (and resets it when another session starts), so give a directory outside it.
    """
    base.mkdir(parents=True, exist_ok=True)
    data_dir = base / "data"
    data_dir.mkdir()
    user = "postgres"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(data_dir, "postgres", "postgres")
    else:
        import getpass

        user = getpass.getuser()
    initdb = subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed: {initdb.stderr.decode(errors='replace')[-2000:]}")
    server = PostgresServer(data_dir=data_dir, port=_free_port(), user=user)
    server.start()
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    base = Path(tempfile.mkdtemp(prefix="test-postgres-"))
    try:
        server = start_postgres(base)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> Callable[[], str]:
    """A factory: each call creates a fresh database and returns its SQLAlchemy URL."""

    def make() -> str:
        return postgres_server.create_database(f"test_{os.getpid()}_{next(_counter)}")

    return make

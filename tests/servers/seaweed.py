"""A real SeaweedFS S3 server (`weed mini`) on loopback ports, for the central-copy tests.

The server itself is dock.localrun.servers.WeedMini (`make run` starts the same one): its own
data directory, S3 credentials from a config file, and a bucket made WITH object lock (so
COMPLIANCE retention is the server's rule, not ours). `stop()` then `start()` brings it back
on the SAME ports with the same data. The `seaweed` fixture is session-scoped (start-up is
slow) and always stopped at teardown; `make_seaweed` makes extra servers a test may stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dock.localrun.servers import ACCESS_KEY, SECRET_KEY, free_port
from dock.localrun.servers import WeedMini as SeaweedServer

__all__ = ["ACCESS_KEY", "SECRET_KEY", "SeaweedServer", "free_port"]


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """One weed mini for the whole session; tests take their own bucket with new_bucket()."""
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A factory for servers a test may stop and restart; all stopped at teardown."""
    made: list[SeaweedServer] = []

    def make() -> SeaweedServer:
        server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
        server.start()
        made.append(server)
        return server

    try:
        yield make
    finally:
        for server in made:
            server.stop()

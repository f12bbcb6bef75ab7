"""A real Mosquitto on a loopback port, for the reporting tests (dock.localrun.servers).

Each broker gets its own directory (config, persistence, log, optional password file, ACL and
TLS material). `stop()` then `start()` brings it back on the SAME port with the same
persistence, so a test can take the broker away mid-stream and see sessions and queued
messages survive. Use the `make_broker` fixture factory; every broker it made is stopped at
teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dock.localrun.servers import MOSQUITTO, MOSQUITTO_PASSWD, _write_tls, free_port
from dock.localrun.servers import Mosquitto as Broker

__all__ = ["MOSQUITTO", "MOSQUITTO_PASSWD", "Broker", "BrokerFactory", "_write_tls", "free_port"]


class BrokerFactory:
    """`make_broker(users={...}, acl="...", tls=True)` -> a started Broker."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.brokers: list[Broker] = []

    def __call__(
        self,
        *,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        tls: bool = False,
        start: bool = True,
    ) -> Broker:
        broker = Broker(
            self.base / f"broker{len(self.brokers)}", users=dict(users or {}), acl=acl, tls=tls
        )
        self.brokers.append(broker)
        return broker.start() if start else broker

    def stop_all(self) -> None:
        for broker in self.brokers:
            broker.stop()


@pytest.fixture
def make_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerFactory]:
    factory = BrokerFactory(tmp_path_factory.mktemp("mosquitto"))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One anonymous broker shared by a module's tests."""
    factory = BrokerFactory(tmp_path_factory.mktemp("mosquitto"))
    try:
        yield factory()
    finally:
        factory.stop_all()

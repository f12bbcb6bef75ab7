"""A real SeaweedFS S3 server (`weed mini`) on loopback ports, for the central-copy tests.

Each server has its own data directory, S3 credentials from a config file, and a bucket made
WITH object lock enabled (so COMPLIANCE retention is the server's rule, not ours). `stop()`
then `start()` brings it back on the SAME ports with the same data, so a test can take the
store away in the middle of an upload. The `seaweed` fixture is session-scoped (start-up is
slow) and always stopped at teardown; `make_seaweed` makes extra servers a test may stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

WEED = str(Path(sys.executable).parent / "weed")
START_TIMEOUT_S = 60.0
ACCESS_KEY = "dockaccess"
SECRET_KEY = "docksecret-not-for-production"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_port_pair() -> int:
    """A port p with p + 10000 free too: SeaweedFS puts each gRPC port 10000 above its HTTP one."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for weed mini")


class WeedExited(RuntimeError):
    """The weed process ended while starting."""


@dataclass
class SeaweedServer:
    """One `weed mini` process; its ports and data survive stop()/start()."""

    directory: Path
    bucket: str = "evidence"
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    has_started: bool = False

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "data").mkdir(exist_ok=True)
        for name in ("master", "volume", "filer", "s3", "admin", "webdav"):
            self.ports.setdefault(name, _free_port_pair())
        self.config_path = self.directory / "s3.json"
        self.config_path.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "dock",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        self.secret_path = self.directory / "secret"
        self.secret_path.write_text(SECRET_KEY + "\n")
        os.chmod(self.secret_path, 0o600)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def access_key_id(self) -> str:
        return ACCESS_KEY

    def command(self) -> list[str]:
        p = self.ports
        return [
            WEED,
            "mini",
            f"-dir={self.directory / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}",
            f"-s3.port={p['s3']}",
            f"-admin.port={p['admin']}",
            f"-webdav.port={p['webdav']}",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            # Off: their fixed default ports collide when two weed minis share a machine.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.config_path}",
        ]

    def start(self) -> None:
        """Start on the chosen ports. A first start whose process exits at once (another
        test session took a port between choosing and binding) retries on fresh ports;
        a restart keeps its ports, since that is what the restart tests are about."""
        for attempt in range(3):
            try:
                self._start_once()
                self.has_started = True
                return
            except WeedExited:
                if self.has_started or attempt == 2:
                    raise
                self.ports = {name: _free_port_pair() for name in self.ports}

    def _start_once(self) -> None:
        assert self.process is None, "already running"
        log = open(self.directory / "weed.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise WeedExited(f"weed mini exited; see {self.directory / 'weed.log'}")
            try:
                client = self.client()
                self._ensure_bucket(client)
                return
            except Exception as exc:  # noqa: BLE001 - still starting
                last = exc
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"weed mini did not come up in {START_TIMEOUT_S}s: {last}")

    def _ensure_bucket(self, client: Any) -> None:
        names = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
        if self.bucket not in names:
            client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
        lock = client.get_object_lock_configuration(Bucket=self.bucket)
        assert lock["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(
                retries={"max_attempts": 1},
                connect_timeout=2,
                read_timeout=10,
                s3={"addressing_style": "path"},
            ),
        )

    def new_bucket(self) -> str:
        """A fresh object-locked bucket, so tests sharing the session server do not mix."""
        name = "b" + uuid.uuid4().hex[:16]
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        return name

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None
        self._wait_ports_free()

    def _wait_ports_free(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("127.0.0.1", self.ports["s3"]))
                return
            except OSError:
                time.sleep(0.2)


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

"""End-to-end fixtures: real processes on loopback ports, each with its own directory.

`flow` is one Mosquitto per test with per-dock passwords and the production ACL
(registry/broker/acl), over the session's PostgreSQL 15 server; each test makes a fresh
registry database and starts `dock serve --simulate N` and `dock-registry` subprocesses through it.
Every process a test started is stopped at its teardown (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select

from registry.models import Alert, Dock, Row
from tests.servers import mosquitto
from tests.servers import postgres as _postgres

make_broker = mosquitto.make_broker
postgres_server = _postgres.postgres_server
postgres_url = _postgres.postgres_url

BIN = Path(sys.executable).parent
ACL = (Path(__file__).resolve().parents[2] / "registry" / "broker" / "acl").read_text()
USERS = {"dock-a": "pw-a", "dock-b": "pw-b", "dock-c": "pw-c", "registry": "pw-registry"}


def wait_for(
    what: str, condition: Callable[[], Any], timeout_s: float = 30.0, alive: Iterable[Proc] = ()
) -> Any:
    """Poll `condition` until it is truthy; fail naming `what` at the deadline, or at once
    when one of the `alive` processes has exited (with the end of its output)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        for proc in alive:
            if proc.process is not None and proc.process.poll() is not None:
                raise AssertionError(f"{what}: {proc.argv[0]} exited:\n{proc.output()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@dataclass
class Proc:
    """One subprocess with its output in a log file."""

    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> int | None:
        """Signal and wait; on 2 busy cores a dock's clean stop (drain, checkpoint) can take
        well over 20 s, and a stop cut short by SIGKILL reads as a failed clean stop."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                if "serve" in self.argv:  # dock serve dumps its threads' stacks to the log
                    self.process.send_signal(signal.SIGUSR1)
                    time.sleep(1)
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Flow:
    """The broker and database servers of a module, and what each test starts on them."""

    base: Path
    broker: mosquitto.Broker
    new_database: Callable[[], str]
    procs: list[Proc] = field(default_factory=list)
    engines: list[Engine] = field(default_factory=list)
    _n: int = 0

    def _dir(self, name: str) -> Path:
        self._n += 1
        d = self.base / f"{name}-{self._n}"
        d.mkdir(parents=True)
        return d

    def dock_dir(self, dock_id: str) -> Path:
        return self._dir(dock_id)

    def dock(
        self, data_dir: Path, dock_id: str, *, user: str | None = None, simulate: int = 1
    ) -> Proc:
        """`dock serve --simulate N` reporting as `dock_id` with `user`'s credentials."""
        user = user or dock_id
        password = data_dir.parent / f"{data_dir.name}.mqtt-password"
        password.write_text(USERS[user] + "\n")
        config = data_dir.parent / f"{data_dir.name}.toml"
        config.write_text(
            f'[dock]\ndock_id = "{dock_id}"\ndata_dir = "{data_dir}"\n'
            f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {self.broker.port}\n'
            f'username = "{user}"\npassword_file = "{password}"\n'
            "reconnect_min_s = 1\nreconnect_max_s = 2\n"
        )
        log = data_dir.parent / f"{data_dir.name}.log"
        argv = [str(BIN / "dock"), "--config", str(config), "serve", "--simulate", str(simulate)]
        proc = Proc(argv, log).start()
        self.procs.append(proc)
        return proc

    def wait(self, what: str, condition: Callable[[], Any], timeout_s: float = 30.0) -> Any:
        """wait_for, failing at once if any process this test started has died."""
        live = [p for p in self.procs if p.process is not None]
        return wait_for(what, condition, timeout_s, alive=live)

    def registry_config(
        self,
        database_url: str,
        client_id: str = "registry-1",
        extra: str = "",
        share_group: str = "registry",
    ) -> Path:
        d = self._dir(client_id)
        password = d / "mqtt-password"
        password.write_text(USERS["registry"] + "\n")
        config = d / "registry.toml"
        config.write_text(
            f'database_url = "{database_url}"\n[broker]\nhost = "127.0.0.1"\n'
            f'port = {self.broker.port}\ntls = false\nusername = "registry"\n'
            f'password_file = "{password}"\nclient_id = "{client_id}"\n'
            f'share_group = "{share_group}"\n{extra}'
        )
        return config

    def registry(
        self,
        database_url: str,
        command: str = "ingest",
        client_id: str = "registry-1",
        extra: str = "",
        share_group: str = "registry",
    ) -> tuple[Proc, int]:
        """A `dock-registry` worker (or `serve`, then with its web port) on the database;
        `extra` is more TOML for its config (sections after [broker])."""
        config = self.registry_config(database_url, client_id, extra, share_group)
        argv = [str(BIN / "dock-registry"), "--config", str(config), command]
        port = 0
        if command == "serve":
            port = mosquitto.free_port()
            argv += ["--host", "127.0.0.1", "--port", str(port)]
        proc = Proc(argv, config.parent / "registry.log").start()
        self.procs.append(proc)
        wait_for(
            "the registry to subscribe",
            lambda: f"from-{client_id}" in self.subscribed() or proc.process.poll() is not None,  # type: ignore[union-attr]
        )
        assert proc.process is not None and proc.process.poll() is None, proc.output()
        return proc, port

    def subscribed(self) -> str:
        """The broker log's SUBSCRIBE lines, naming each client that subscribed."""
        return "\n".join(
            line.replace(" ", "-")
            for line in self.broker.log_text().splitlines()
            if "Received SUBSCRIBE" in line
        )

    def engine(self, url: str) -> Engine:
        engine = create_engine(url)
        self.engines.append(engine)
        return engine

    def cleanup(self) -> None:
        for proc in reversed(self.procs):
            proc.kill()
        self.procs.clear()
        for engine in self.engines:
            engine.dispose()
        self.engines.clear()


@pytest.fixture
def flow(
    tmp_path: Path,
    postgres_url: Callable[[], str],  # noqa: F811 - the fixture, by name
) -> Iterator[Flow]:
    """A fresh broker per test (it starts in milliseconds; retained state never leaks)."""
    broker = mosquitto.Broker(tmp_path / "broker", users=USERS, acl=ACL).start()
    f = Flow(tmp_path, broker, postgres_url)
    try:
        yield f
    finally:
        f.cleanup()
        broker.stop()


def dock_rows(data_dir: Path) -> list[tuple[int, str, str]]:
    """(id, prev_hash, hash) of every row in the dock's own journal, read-only ([] before it
    exists)."""
    if not (data_dir / "dock.sqlite3").exists():
        return []
    # Not mode=ro: a read-only connection cannot open a WAL database whose -shm file the
    # last writer removed on close; query_only keeps this connection from writing anyway.
    try:
        with sqlite3.connect(data_dir / "dock.sqlite3", timeout=10) as db:
            db.execute("PRAGMA query_only = ON")
            query = "SELECT id, prev_hash, hash FROM journal ORDER BY id"
            return [tuple(r) for r in db.execute(query)]
    except sqlite3.OperationalError:  # the dock is still creating its tables
        return []


def held_rows(engine: Engine, dock_id: str) -> list[Row]:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        rows = session.scalars(
            select(Row).where(Row.dock_id == dock_id).order_by(Row.row_id, Row.conflict_no)
        ).all()
        session.expunge_all()
        return list(rows)


def held_dock(engine: Engine, dock_id: str) -> Dock | None:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        dock = session.get(Dock, dock_id)
        if dock is not None:
            session.expunge(dock)
        return dock


def alert_kinds(engine: Engine, dock_id: str) -> set[str]:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return set(session.scalars(select(Alert.kind).where(Alert.dock_id == dock_id)).all())


def publish_as(broker: mosquitto.Broker, user: str, messages: list[tuple[str, bytes]]) -> list[int]:
    """Publish straight to the broker with `user`'s credentials, QoS 1; the PUBACK reason codes."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    acked: dict[int, int] = {}
    done = threading.Condition()

    def on_publish(_c: object, _u: object, mid: int, rc: object, _p: object) -> None:
        with done:
            acked[mid] = int(getattr(rc, "value", rc))  # type: ignore[call-overload]
            done.notify_all()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"hostile-{user}", protocol=mqtt.MQTTv5
    )
    client.username_pw_set(user, USERS[user])
    client.on_publish = on_publish
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        mids = [client.publish(topic, payload, qos=1).mid for topic, payload in messages]
        with done:
            assert done.wait_for(lambda: all(m in acked for m in mids), 20), "no PUBACK"
        return [acked[m] for m in mids]
    finally:
        client.disconnect()
        client.loop_stop()

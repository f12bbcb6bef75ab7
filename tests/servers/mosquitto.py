"""A real Mosquitto (Debian's /usr/sbin/mosquitto) on a loopback port, for the reporting tests.

Each broker gets its own directory (config, persistence, log, optional password file, ACL and
TLS material). `stop()` then `start()` brings it back on the SAME port with the same
persistence, so a test can take the broker away mid-stream and see sessions and queued
messages survive. Use the `make_broker` fixture factory; every broker it made is stopped at
teardown.
"""

from __future__ import annotations

import datetime
import getpass
import ipaddress
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test broker CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "ca.crt",
        directory / "server.crt",
        directory / "server.key",
    )
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


@dataclass
class Broker:
    """One Mosquitto process; `users` maps username -> password when a password file is used."""

    directory: Path
    host: str = "127.0.0.1"
    port: int = 0
    users: dict[str, str] = field(default_factory=dict)
    acl: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "data").mkdir(exist_ok=True)
        if not self.port:
            self.port = free_port()
        self._write_config()

    @property
    def log_path(self) -> Path:
        return self.directory / "mosquitto.log"

    def _write_config(self) -> None:
        d = self.directory
        lines = [
            f"listener {self.port} {self.host}",
            "persistence true",
            f"persistence_location {d / 'data'}/",
            "autosave_interval 1",
            f"log_dest file {self.log_path}",
            "log_type all",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "persistent_client_expiration 1d",
            # Run as whoever started the tests: as root, Mosquitto would otherwise drop to the
            # `mosquitto` user, which cannot write this test's directory.
            f"user {getpass.getuser()}",
        ]
        if self.users:
            lines += ["allow_anonymous false", f"password_file {self._write_password_file()}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl is not None:
            acl_path = d / "acl"
            acl_path.write_text(self.acl)
            lines.append(f"acl_file {acl_path}")
        if self.tls:
            ca, cert, key = _write_tls(d)
            self.ca_file = ca
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        (d / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def _write_password_file(self) -> Path:
        pw = self.directory / "passwd"
        pw.write_text("")
        for name, password in self.users.items():
            subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw), name, password], check=True)
        pw.chmod(0o600)
        return pw

    def start(self) -> Broker:
        """Start (or start again, same port and persistence) and wait until it accepts."""
        if self.process is not None and self.process.poll() is None:
            return self
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.directory / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                log = self.log_path.read_text() if self.log_path.exists() else ""
                raise RuntimeError(f"mosquitto exited at start: {err} {log[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its persistence on the way out) and wait."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: a broker that dies without saving."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stop()

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


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

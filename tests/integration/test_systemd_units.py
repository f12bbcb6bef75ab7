"""The Pi's units: valid for systemd, the dock's sandbox scored, installed and uninstalled
under a staging prefix, and a mount helper that mounts only the bay's own recorder card."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hw.mass_storage import BlockDevice, MassStorageError
from hw.mount_helper import HelperVolumes, MountHelper, serve_one

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted(
    p for p in (ROOT / "systemd").iterdir() if p.suffix in (".service", ".socket", ".timer")
)
MAX_EXPOSURE = 2.0

needs_analyze = pytest.mark.skipif(
    subprocess.run(["which", "systemd-analyze"], capture_output=True).returncode != 0,
    reason="systemd-analyze not installed",
)


def staged(tmp_path: Path) -> list[Path]:
    """The units with the installed venv swapped for this checkout's."""
    here = str(Path(sys.executable).parent) + "/"
    out = []
    for unit in UNITS:
        copy = tmp_path / unit.name
        copy.write_text(
            unit.read_text(encoding="utf-8").replace("/opt/bodycam-dock/.venv/bin/", here)
        )
        out.append(copy)
    return out


@needs_analyze
def test_every_unit_passes_systemd_analyze_verify_with_no_warning(tmp_path):
    units = staged(tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert str(tmp_path) not in done.stderr, done.stderr


@needs_analyze
def test_the_dock_units_exposure_is_at_most_2_and_the_readme_prints_it(tmp_path):
    staged(tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(tmp_path / "bodycam-dock.service")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"Overall exposure level for bodycam-dock\.service: (\d+\.\d)", done.stdout)
    assert found, done.stdout + done.stderr
    score = float(found[1])
    print(f"bodycam-dock.service exposure {score}")
    assert score <= MAX_EXPOSURE
    assert f"exposure {score}" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_make_install_stages_units_rules_config_and_dirs_and_uninstall_keeps_the_evidence(tmp_path):
    dest = tmp_path / "root"
    make = ["make", "-s", "-C", str(ROOT), f"DESTDIR={dest}", "INSTALL_VENV=no"]
    subprocess.run([*make, "install"], check=True, capture_output=True, timeout=60)
    for unit in UNITS:
        assert (dest / "etc/systemd/system" / unit.name).read_bytes() == unit.read_bytes()
    assert (dest / "etc/udev/rules.d/99-bodycam-dock.rules").exists()
    assert (dest / "etc/bodycam-dock/dock.toml").stat().st_mode & 0o777 == 0o640
    data = dest / "var/lib/bodycam-dock"
    assert data.stat().st_mode & 0o777 == 0o700
    (data / "dock.sqlite3").write_text("evidence ledger")
    subprocess.run([*make, "uninstall"], check=True, capture_output=True, timeout=60)
    assert not list((dest / "etc/systemd/system").iterdir())
    assert not (dest / "opt/bodycam-dock").exists()
    assert (data / "dock.sqlite3").read_text() == "evidence ledger"


def asked(helper: MountHelper, tmp_path: Path, port: str, serial: str):
    """HelperVolumes asking `helper` over a real Unix socket, as the dock does."""
    path = tmp_path / "mount.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def one() -> None:
        conn, _ = server.accept()
        with conn:
            serve_one(conn, helper)

    thread = threading.Thread(target=one, daemon=True)
    thread.start()
    try:
        return HelperVolumes(path).open_volume(port, serial)
    finally:
        thread.join(10)
        server.close()


def test_the_mount_helper_mounts_the_recorders_own_card_read_only_and_inert(tmp_path):
    ran: list[list[str]] = []
    disk = BlockDevice(node="/dev/sdb1", label="ZFY00042", serial="X", fs_type="vfat")
    helper = MountHelper(tmp_path / "media", find=lambda port: [disk], run=ran.append)
    volume = asked(helper, tmp_path, "1-1.2", "ZFY00042")
    mountpoint = str(tmp_path / "media" / "1-1.2")
    assert ran == [
        [
            "mount",
            "-o",
            "ro,nosuid,nodev,noexec,codepage=936,iocharset=utf8",
            "/dev/sdb1",
            mountpoint,
        ]
    ]
    assert str(volume.root) == mountpoint


def test_the_mount_helper_refuses_a_disk_labelled_for_another_recorder(tmp_path):
    ran: list[list[str]] = []
    stranger = BlockDevice(node="/dev/sdb1", label="USBSTICK", serial="ZFY00042", fs_type="vfat")
    helper = MountHelper(tmp_path / "media", find=lambda port: [stranger], run=ran.append)
    with pytest.raises(MassStorageError, match="is not recorder ZFY00042; remove it from the bay"):
        asked(helper, tmp_path, "1-1.2", "ZFY00042")
    assert ran == []


@pytest.mark.parametrize(
    "request_",
    [
        {"op": "mount", "port": "../../etc", "serial": "ZFY1"},
        {"op": "mount", "port": "1-1.2", "serial": "a b;rm"},
        {"op": "format", "port": "1-1.2"},
    ],
)
def test_the_mount_helper_refuses_what_is_not_a_port_a_serial_or_an_op(tmp_path, request_):
    ran: list[list[str]] = []
    helper = MountHelper(tmp_path / "media", find=lambda port: [], run=ran.append)
    answer = helper.answer(json.dumps(request_).encode())
    assert answer["ok"] is False and "\n" not in answer["error"]
    assert ran == []

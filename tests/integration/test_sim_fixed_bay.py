"""A dock without udev: a bay bound to a fixed port and card, run end to end from outside.

`recorder-sim --card CARD.img` serves a real-layout FAT32 dump on a pty; the config binds
that pty and that image to bay 1; `dock serve` (a real process) docks, offloads and checks
it. The clips must be in the store, the ones the dock released deleted exactly from the
image, and every other byte of the image as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dock.config import parse_settings
from dock.errors import ConfigError
from dock.simulated_process import SimulatedDockProcess
from firmware_bridge.sim.card import open_card
from hw.fixed_ports import FixedPortsHotplug
from hw.hotplug import RecorderAttached, RecorderDetached, StartupScanDone
from hw.mass_storage import EntryKind, MassStorageError, WrongVolume
from hw.volumes import FixedVolumes
from tests.integration.test_sim_card import (
    CLIP_B,
    SERIAL,
    make_exfat_card,
    make_fat32_card,
    needs_root,
    real_layout_files,
)

WAIT_S = 90


def _dock(config: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "dock.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.parametrize("kind", ["fat32", pytest.param("exfat", marks=needs_root)])
def test_a_fixed_bay_binding_runs_dock_serve_against_recorder_sim(tmp_path: Path, kind: str):
    files = real_layout_files()
    make_card = make_fat32_card if kind == "fat32" else make_exfat_card
    card = make_card(tmp_path / "CARD.img", files)
    # The recorder's own hash for CLIP_B is wrong: that clip must stay on the card, untouched.
    Path(str(card) + ".sha256").write_text(f"{'ab' * 32}  {CLIP_B}\n")
    before = card.read_bytes()
    sim = subprocess.Popen(
        [sys.executable, "-m", "firmware_bridge.sim", "--card", str(card)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        port = sim.stdout.readline().strip()
        assert port.startswith("/dev/")
        config = tmp_path / "dock.toml"
        config.write_text(
            '[dock]\ndata_dir = "data"\n'
            f'[bays]\ncount = 2\n[bays.fixed.1]\nport = "{port}"\ncard = "CARD.img"\n'
            "[check]\nshift_hours = 1\nbitrate_mbps = 0.001\n"
            "[offload]\nreserve_bytes = 0\n"
        )
        _dock(config, "officer", "add", "310115", "--name", "李明")
        _dock(config, "device", "register", SERIAL)
        _dock(config, "device", "assign", SERIAL, "310115")
        _dock(config, "device", "pair", SERIAL, "--port", port)

        with SimulatedDockProcess(config, 0) as dock:
            verdicts = dock.wait_for_verdicts(1, WAIT_S)
            assert dock.stop() == 0
        assert 1 in verdicts, dock.stdout_lines
        offload = next(line for line in dock.stdout_lines if "offload:" in line)
        assert f"bay 1 {SERIAL}: offload:" in offload, dock.stdout_lines
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=10)

    story = "\n".join(dock.stdout_lines + dock.stderr_lines)
    store = tmp_path / "data" / "store" / "objects"
    for path, (content, _mtime) in files.items():
        digest = hashlib.sha256(content).hexdigest()
        if path != CLIP_B:
            assert (store / digest[:2] / digest[2:4] / digest).is_file(), f"{path}\n{story}"
    left = {path: size for path, size in open_card(card).list_files()}
    assert CLIP_B in left  # its recorder hash disagreed with the copy: never deleted
    assert len(left) < len(files), f"the dock released no clip at all\n{story}"
    remaining = open_card(card)
    for path in left:
        assert remaining.sha256(path) == hashlib.sha256(files[path][0]).digest()
    fsck = "fsck.vfat" if kind == "fat32" else "fsck.exfat"
    check = subprocess.run([fsck, "-n", str(card)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert len(card.read_bytes()) == len(before)


@pytest.mark.parametrize(
    ("fixed", "says"),
    [
        ({"1": {"port": "/dev/pts/5"}}, "must give exactly port and card"),
        ({"1": {"port": "COM3", "card": "c.img"}}, "serial port path"),
        ({"9": {"port": "/dev/pts/5", "card": "c.img"}}, "bays.count"),
        (
            {"1": {"port": "/dev/pts/5", "card": "a"}, "2": {"port": "/dev/pts/5", "card": "b"}},
            "one port per bay",
        ),
    ],
)
def test_a_wrong_fixed_bay_binding_stops_the_dock_in_one_line(tmp_path, fixed, says):
    with pytest.raises(ConfigError, match=says) as caught:
        parse_settings({"bays": {"fixed": fixed}}, base_dir=tmp_path, source=None)
    assert "\n" not in str(caught.value)


def test_a_fixed_bay_card_path_is_taken_from_the_config_folder(tmp_path):
    settings = parse_settings(
        {"bays": {"fixed": {"2": {"port": "/dev/ttyACM0", "card": "cards/CARD.img"}}}},
        base_dir=tmp_path,
        source=None,
    )
    assert settings.bays.fixed[2].card == tmp_path / "cards" / "CARD.img"
    assert settings.bays.fixed[2].port == "/dev/ttyACM0"


def test_a_fixed_port_is_docked_while_it_exists_and_taken_out_when_it_vanishes():
    master, slave = os.openpty()
    port = os.ttyname(slave)
    hotplug = FixedPortsHotplug({"fixed.1": port, "fixed.2": "/dev/no-such-port"}, poll_s=0.05)
    try:
        assert hotplug.next_event(1) == RecorderAttached("fixed.1", port)
        assert hotplug.next_event(1) == StartupScanDone()
        assert hotplug.next_event(0.2) is None  # nothing changed
        os.close(slave)
        os.close(master)  # the pty is gone, as when recorder-sim stops
        assert hotplug.next_event(2) == RecorderDetached("fixed.1")
    finally:
        hotplug.close()


def test_a_woken_fixed_port_watch_returns_at_once():
    hotplug = FixedPortsHotplug({"fixed.1": "/dev/no-such-port"}, poll_s=60)
    assert hotplug.next_event(1) == StartupScanDone()
    hotplug.wake()
    started = time.monotonic()
    assert hotplug.next_event(None) is None
    assert time.monotonic() - started < 30  # woken, not the 60 s poll (a loaded CI has slack)


def test_a_fixed_card_source_is_read_only_and_must_carry_the_recorders_serial(tmp_path):
    card = make_fat32_card(tmp_path / "CARD.img", real_layout_files())
    before = card.read_bytes()
    volumes = FixedVolumes({"fixed.1": card, "fixed.2": tmp_path / "notes.txt"})
    volume = volumes.open_volume("fixed.1", SERIAL)
    try:
        assert {e.path for e in volume.walk() if e.kind is EntryKind.FILE} == set(
            real_layout_files()
        )
    finally:
        volume.close()
    with pytest.raises(WrongVolume, match="is not recorder ZFY99999"):
        volumes.open_volume("fixed.1", "ZFY99999")
    (tmp_path / "notes.txt").write_text("not a card")
    with pytest.raises(MassStorageError, match="neither a folder nor a FAT32 or exFAT"):
        volumes.open_volume("fixed.2", SERIAL)
    assert card.read_bytes() == before


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("losetup") is None, reason="a loop device needs root"
)
def test_a_fixed_card_source_can_be_a_block_device(tmp_path):
    card = make_fat32_card(tmp_path / "CARD.img", real_layout_files())
    loop = subprocess.run(
        ["losetup", "-f", "--show", "-r", str(card)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        volume = FixedVolumes({"fixed.1": Path(loop)}).open_volume("fixed.1", SERIAL)
        try:
            files = {e.path for e in volume.walk() if e.kind is EntryKind.FILE}
        finally:
            volume.close()
        assert files == set(real_layout_files())
    finally:
        subprocess.run(["losetup", "-d", loop], check=True)

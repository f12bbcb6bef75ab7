"""The real adapters on a Raspberry Pi with udev and systemd: skipped anywhere else.

These are the parts that cannot exist on a development machine; each test states what the
adapter must do on the device itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

MODEL = Path("/proc/device-tree/model")
IS_PI = MODEL.exists() and "Raspberry Pi" in MODEL.read_text(errors="replace")

pytestmark = [
    pytest.mark.hw,
    pytest.mark.skipif(not IS_PI, reason="needs a Raspberry Pi (udev, systemd, bays)"),
]


def test_udev_hotplug_reports_only_usb_ttys_with_a_port_path():
    from hw.hotplug import RecorderAttached, StartupScanDone, UdevHotplug

    hotplug = UdevHotplug()
    try:
        while not isinstance(event := hotplug.next_event(0.1), StartupScanDone):
            assert isinstance(event, RecorderAttached)
            assert event.usb_port_path and event.serial_port.startswith("/dev/tty")
    finally:
        hotplug.close()


def test_timedatectl_answers_whether_the_clock_is_synchronised():
    import subprocess

    from hw.clock_sync import TimedatectlClockSync

    expected = subprocess.run(
        ["timedatectl", "show", "--property=NTPSynchronized", "--value"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert TimedatectlClockSync().is_synchronised() is (expected == "yes")

"""Finding a docked recorder's storage volume once the protocol has unlocked it.

The disk is found by the bay's USB port path and must carry the identified recorder's
serial as its label: a stranger's stick in the bay is refused (hw.mass_storage.WrongVolume).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from hw.mass_storage import DirectoryMassStorage, MassStorage, MassStorageError, WrongVolume


class VolumeFinder(Protocol):
    def open_volume(self, usb_port_path: str, recorder_serial: str) -> MassStorage: ...


class MountedVolumes:
    """The real adapter on the Pi: the disk on that USB port, mounted read-only."""

    def __init__(self, mount_root: Path) -> None:
        self.mount_root = mount_root

    def open_volume(self, usb_port_path: str, recorder_serial: str) -> MassStorage:
        from hw.mass_storage import MountedMassStorage

        return MountedMassStorage(
            usb_port_path, recorder_serial, self.mount_root / usb_port_path.replace("/", "_")
        )


def open_image_or_directory(kind: str, location: Path, label: str) -> MassStorage:
    """A recorder card as the simulator keeps it: a directory or a FAT32/exFAT image."""
    if kind == "dir":
        return DirectoryMassStorage(location, label=label)
    if kind == "fat32":
        from hw.fat32 import FatImageMassStorage

        return FatImageMassStorage(location)
    if kind == "exfat":
        from hw.exfat import ExfatImageMassStorage

        return ExfatImageMassStorage(location)
    raise ValueError(f"unknown card kind {kind!r}")


class SimulatedVolumes:
    """Volumes the recorder simulator exposes while its mass storage is switched on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cards: dict[str, tuple[str, Path, str]] = {}  # port -> (kind, location, label)
        self._exposed: set[str] = set()

    def insert(self, usb_port_path: str, kind: str, location: Path, label: str) -> None:
        with self._lock:
            self._cards[usb_port_path] = (kind, location, label)

    def expose(self, usb_port_path: str, is_on: bool) -> None:
        """The recorder switched its USB mass storage on or off (SetMassStorage, unplug)."""
        with self._lock:
            if is_on:
                self._exposed.add(usb_port_path)
            else:
                self._exposed.discard(usb_port_path)

    def open_volume(self, usb_port_path: str, recorder_serial: str) -> MassStorage:
        with self._lock:
            card = self._cards.get(usb_port_path) if usb_port_path in self._exposed else None
        if card is None:
            raise MassStorageError(
                f"USB port {usb_port_path}: no storage volume appeared; "
                "check the recorder unlocked mass storage, then re-dock."
            )
        volume = open_image_or_directory(*card)
        if volume.volume_label().strip().upper() != recorder_serial.upper():
            label = volume.volume_label()
            volume.close()
            raise WrongVolume(
                f"USB port {usb_port_path}: disk labelled {label!r} is not recorder "
                f"{recorder_serial}; remove it from the bay."
            )
        return volume

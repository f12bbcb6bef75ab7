"""Finding a docked recorder's storage volume once the protocol has unlocked it.

The disk is found by the bay's USB port path and must carry the identified recorder's
serial as its label: a stranger's stick in the bay is refused (hw.mass_storage.WrongVolume).
A bay bound in the config to a fixed card source (`[bays.fixed.N] card = ...`, a dock without
udev) opens that source read-only with the reader its first sector calls for (`FixedVolumes`).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Mapping
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
        return _labelled(open_image_or_directory(*card), usb_port_path, recorder_serial)


def _labelled(volume: MassStorage, usb_port_path: str, recorder_serial: str) -> MassStorage:
    """The volume, if it carries the recorder's serial as its label; else WrongVolume."""
    if volume.volume_label().strip().upper() != recorder_serial.upper():
        label = volume.volume_label()
        volume.close()
        raise WrongVolume(
            f"USB port {usb_port_path}: disk labelled {label!r} is not recorder "
            f"{recorder_serial}; remove it from the bay."
        )
    return volume


def fixed_port_path(bay: int) -> str:
    """The port path standing for a bay bound in the config (never a kernel name)."""
    return f"fixed.{bay}"


def file_system_of(boot: bytes) -> str | None:
    """ "exfat" or "fat32" from a volume's first sector, or None when it is neither."""
    if len(boot) == 512 and boot[3:11] == b"EXFAT   ":
        return "exfat"
    if len(boot) == 512 and boot[82:90] == b"FAT32   ":
        return "fat32"
    return None


def card_source_kind(source: Path) -> str:
    """ "dir", "fat32" or "exfat": what a card source holds, from its first sector."""
    try:
        mode = os.stat(source).st_mode
        if stat.S_ISDIR(mode):
            return "dir"
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)  # an image or a block device
        try:
            boot = os.pread(fd, 512, 0)
        finally:
            os.close(fd)
    except OSError as err:
        raise MassStorageError(
            f"card source {source}: {err.strerror}; check [bays.fixed] in the config."
        ) from None
    kind = file_system_of(boot)
    if kind:
        return kind
    raise MassStorageError(
        f"card source {source} is neither a folder nor a FAT32 or exFAT volume; "
        "check [bays.fixed] in the config."
    )


class FixedVolumes:
    """Bays bound to a card source in the config: an image file, a folder or a block device.

    The source is opened read-only each docking (the dock never writes to a card; a delete
    goes to the recorder over the link); other ports go to `fallback`, if any."""

    def __init__(
        self,
        cards: Mapping[str, Path],
        *,
        card_utc_offset_min: int = 480,
        fallback: VolumeFinder | None = None,
    ) -> None:
        self.cards = dict(cards)
        self.card_utc_offset_min = card_utc_offset_min
        self.fallback = fallback

    def open_volume(self, usb_port_path: str, recorder_serial: str) -> MassStorage:
        source = self.cards.get(usb_port_path)
        if source is None:
            if self.fallback is None:
                raise MassStorageError(
                    f"USB port {usb_port_path}: no card source is bound to it; "
                    "add it to [bays.fixed] in the config."
                )
            return self.fallback.open_volume(usb_port_path, recorder_serial)
        kind = card_source_kind(source)
        volume: MassStorage
        if kind == "dir":
            volume = DirectoryMassStorage(source, label=source.name)
        elif kind == "fat32":
            from hw.fat32 import FatImageMassStorage

            volume = FatImageMassStorage(source, card_utc_offset_min=self.card_utc_offset_min)
        else:
            from hw.exfat import ExfatImageMassStorage

            volume = ExfatImageMassStorage(source, card_utc_offset_min=self.card_utc_offset_min)
        return _labelled(volume, usb_port_path, recorder_serial)

"""The simulator's settings: one frozen tree, from a TOML file, then overridden by flags.

A wrong key or value stops the simulator with one line naming it, before any card is made.

    serial = ""                  # also the card's volume label; empty: ZFY00001, or with
                                 # [storage] card, the served card's own volume label
    battery_pct = 90
    is_charging = true
    clock_offset_s = 0           # recorder clock minus host clock
    key_hex = ""                 # 64 hex digits; empty = factory-fresh (unpaired)
    is_recording = false
    [storage]
    kind = "dir"                 # dir | fat32 | exfat (exfat needs root)
    path = ""                    # card directory or image file; empty = a temporary one
    capacity_bytes = 0           # 0 = sized to the clips
    card = ""                    # an existing FAT32/exFAT image (or folder) served as it is:
                                 # never formatted, only the dock's deletions change it;
                                 # [clips] and kind/path/capacity_bytes do not apply
    utc_offset_min = 480         # the zone of the card's FAT times and file names
    [clips]
    count = 20
    size_bytes = 3000000
    seed = 0
    important_every = 5
    interruption_every = 3
    [faults]                     # see firmware_bridge.sim.faults.Faults
    lie_about_sizes = false
"""

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from firmware_bridge.sim.faults import Faults


class ConfigError(Exception):
    """A setting the simulator cannot use; the message names it."""


@dataclass(frozen=True)
class StorageConfig:
    kind: str = "dir"
    path: str = ""
    capacity_bytes: int = 0
    card: str = ""
    utc_offset_min: int = 480


DEFAULT_SERIAL = "ZFY00001"


@dataclass(frozen=True)
class ClipsConfig:
    count: int = 20
    size_bytes: int = 3_000_000
    seed: int = 0
    important_every: int = 5
    interruption_every: int = 3


@dataclass(frozen=True)
class SimConfig:
    serial: str = ""
    battery_pct: int = 90
    is_charging: bool = True
    clock_offset_s: float = 0.0
    key_hex: str = ""
    is_recording: bool = False
    storage: StorageConfig = field(default_factory=StorageConfig)
    clips: ClipsConfig = field(default_factory=ClipsConfig)
    faults: Faults = field(default_factory=Faults)

    @property
    def key(self) -> bytes | None:
        return bytes.fromhex(self.key_hex) if self.key_hex else None


_SECTIONS = {"storage": StorageConfig, "clips": ClipsConfig, "faults": Faults}


def _build(cls, values: dict, where: str):
    known = {f.name: f for f in dataclasses.fields(cls)}
    for name in values:
        if name not in known:
            raise ConfigError(f"unknown setting {where}{name}; allowed: {', '.join(known)}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"bad value in [{where.rstrip('.') or 'top'}]: {err}") from None


def build_config(values: dict) -> SimConfig:
    """SimConfig from a nested dict (the TOML's shape), checked."""
    top = dict(values)
    sections = {}
    for name, cls in _SECTIONS.items():
        section = top.pop(name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"[{name}] must be a table")
        sections[name] = _build(cls, section, name + ".")
    config = _build(SimConfig, {**top, **sections}, "")
    _check(config)
    return config


def _check(config: SimConfig) -> None:
    if config.storage.kind not in ("dir", "fat32", "exfat"):
        raise ConfigError(f"storage.kind is {config.storage.kind!r}; use dir, fat32 or exfat")
    if not 0 <= config.battery_pct <= 100:
        raise ConfigError(f"battery_pct is {config.battery_pct}; use 0 to 100")
    if len(config.serial) > 11 or not config.serial.isascii():
        raise ConfigError("serial must be 1 to 11 ASCII characters (it is the volume label)")
    if config.storage.card and config.storage.path:
        raise ConfigError("give storage.card (serve a card as it is) or storage.path, not both")
    if not -720 <= config.storage.utc_offset_min <= 840:
        raise ConfigError(
            f"storage.utc_offset_min is {config.storage.utc_offset_min}; use -720 to 840"
        )
    try:
        key = config.key
    except ValueError:
        raise ConfigError("key_hex is not hexadecimal") from None
    if key is not None and len(key) != 32:
        raise ConfigError(f"key_hex is {len(key)} bytes; a pairing key is 32 bytes (64 hex)")
    if config.clips.count < 0 or config.clips.size_bytes < 64:
        raise ConfigError("clips.count must be >= 0 and clips.size_bytes >= 64")


def load_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config {path} is not valid TOML: {err}") from None

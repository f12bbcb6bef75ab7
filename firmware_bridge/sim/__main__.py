"""`recorder-sim` / `python -m firmware_bridge.sim`: one simulated recorder on a pty.

The first line of stdout is the port path, so a script can `read -r PORT`; the next lines
say where the card is. It runs until SIGINT or SIGTERM, then unplugs cleanly.

`--card CARD.img` serves an existing card dump as it is (`firmware_bridge.sim.card`);
otherwise the simulator makes a card of its own, and refuses to format over an existing
image or folder given with `--path`.
"""

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from firmware_bridge.sim.card import open_card
from firmware_bridge.sim.cards import make_storage
from firmware_bridge.sim.clips import generate_clips
from firmware_bridge.sim.config import (
    DEFAULT_SERIAL,
    ConfigError,
    SimConfig,
    build_config,
    load_toml,
)
from firmware_bridge.sim.recorder import SimRecorder
from firmware_bridge.sim.storage import Storage, StorageError

# flag -> (section or None, setting, type)
_FLAGS = {
    "serial": (None, "serial", str),
    "battery": (None, "battery_pct", int),
    "clock_offset_s": (None, "clock_offset_s", float),
    "key_hex": (None, "key_hex", str),
    "storage": ("storage", "kind", str),
    "path": ("storage", "path", str),
    "capacity_bytes": ("storage", "capacity_bytes", int),
    "card": ("storage", "card", str),
    "card_utc_offset_min": ("storage", "utc_offset_min", int),
    "clips": ("clips", "count", int),
    "clip_size_bytes": ("clips", "size_bytes", int),
    "seed": ("clips", "seed", int),
    "slow_link_bytes_per_s": ("faults", "slow_link_bytes_per_s", int),
    "drop_byte_every": ("faults", "drop_byte_every", int),
    "corrupt_byte_every": ("faults", "corrupt_byte_every", int),
    "corrupt_frame_every": ("faults", "corrupt_frame_every", int),
    "disconnect_after_frames": ("faults", "disconnect_after_frames", int),
    "ignore_requests": ("faults", "ignore_requests", int),
    "protocol_version": ("faults", "protocol_version", int),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recorder-sim",
        description="Simulated body-camera recorder on a pty (prints the port path first).",
    )
    parser.add_argument("--config", type=Path, help="TOML file (see firmware_bridge/sim/config.py)")
    for flag, (_section, _name, kind) in _FLAGS.items():
        parser.add_argument("--" + flag.replace("_", "-"), dest=flag, type=kind)
    parser.add_argument("--not-charging", dest="is_charging", action="store_false", default=None)
    parser.add_argument("--recording", dest="is_recording", action="store_true", default=None)
    parser.add_argument("--lie-about-sizes", action="store_true", default=None)
    return parser


def config_from_args(argv: list[str]) -> SimConfig:
    args = _parser().parse_args(argv)
    values: dict = load_toml(args.config) if args.config else {}
    for flag, (section, name, _kind) in _FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            target = values.setdefault(section, {}) if section else values
            target[name] = value
    for name in ("is_charging", "is_recording"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    if args.lie_about_sizes:
        values.setdefault("faults", {})["lie_about_sizes"] = True
    return build_config(values)


def build_recorder(config: SimConfig, workdir: Path) -> SimRecorder:
    if config.storage.card:
        return _card_recorder(config)
    clips, events = generate_clips(
        config.clips.count,
        size_bytes=config.clips.size_bytes,
        seed=config.clips.seed,
        important_every=config.clips.important_every,
        interruption_every=config.clips.interruption_every,
    )
    default_name = "card" if config.storage.kind == "dir" else "card.img"
    location = Path(config.storage.path) if config.storage.path else workdir / default_name
    if _holds_something(location):
        raise StorageError(
            f"{location} already exists and would be formatted: serve it as it is with "
            f"--card {location}, or remove it"
        )
    serial = config.serial or DEFAULT_SERIAL
    storage = make_storage(
        config.storage.kind,
        location,
        serial,
        clips,
        capacity_bytes=config.storage.capacity_bytes or None,
    )
    return _recorder(config, storage, serial, clips, events)


def _holds_something(location: Path) -> bool:
    if location.is_dir():
        return any(location.iterdir())
    return location.exists() and location.stat().st_size > 0


def _card_recorder(config: SimConfig) -> SimRecorder:
    """A recorder whose card is an existing dump, listed from the card itself."""
    storage = open_card(
        Path(config.storage.card),
        label=config.serial,
        utc_offset_min=config.storage.utc_offset_min,
    )
    serial = storage.label.strip()
    if not serial or len(serial) > 11 or not serial.isascii():
        raise StorageError(
            f"the card's volume label {storage.label!r} cannot be a recorder serial; "
            "give one with --serial"
        )
    storage.list_files()  # a card that cannot be listed stops here, in one line
    return _recorder(config, storage, serial, [], [])


def _recorder(
    config: SimConfig, storage: Storage, serial: str, clips: list, events: list
) -> SimRecorder:
    return SimRecorder(
        storage,
        serial=serial,
        battery_pct=config.battery_pct,
        is_charging=config.is_charging,
        clock_skew_s=config.clock_offset_s,
        key=config.key,
        clips=clips,
        events=events,
        is_recording=config.is_recording,
        faults=config.faults,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        config = config_from_args(sys.argv[1:] if argv is None else argv)
    except ConfigError as err:
        print(f"recorder-sim: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="recorder-sim-") as workdir:
        try:
            sim = build_recorder(config, Path(workdir))
        except StorageError as err:
            print(f"recorder-sim: {err}", file=sys.stderr)
            return 1
        with sim:
            print(sim.port, flush=True)
            print(f"card: {sim.storage.kind} {sim.storage.location} label {sim.storage.label}")
            hashes = len(sim.storage.device_hashes)
            print(
                f"clips: {len(sim.storage.list_files())}, device hashes: {hashes}, "
                f"paired: {config.key is not None}"
            )
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The recorder's hardware, as the firmware sees it: one plain base class.

MicroPython has no typing.Protocol at run time, so the contract is a base class whose
methods raise NotImplementedError. Three boards implement it: `board_rp2.RP2Board` (a real
RP2040/RP2350 recorder), `memory_board.MemoryBoard` (pure, for golden vectors under both
interpreters) and `firmware_bridge.sim.board.SimBoard` (CPython, backed by a directory or a
FAT32/exFAT image). The recorder logic only ever calls these methods, so any exception they
raise becomes `Error(STORAGE_FAULT)` on the link instead of a crash.

Clips are dicts with the keys of `messages.CLIP_FIELDS` (path, start_utc_s, end_utc_s,
size_bytes, sha256, is_important, place); events are dicts with the keys of
`messages.EVENT_FIELDS` (index, utc_s, kind, reason, clip_path). The identity record is a
dict with officer_number, officer_name, unit_number, unit_name.
"""

IDENTITY_KEYS = ("officer_number", "officer_name", "unit_number", "unit_name")


class Board:
    """The hardware interface. Subclasses pass the device information to __init__ and
    override every other method."""

    def __init__(self, serial: str, model: str, firmware_version: str) -> None:
        self._serial = serial
        self._model = model
        self._firmware_version = firmware_version

    # Device information, fixed at the factory.
    def serial(self) -> str:
        return self._serial

    def model(self) -> str:
        return self._model

    def firmware_version(self) -> str:
        return self._firmware_version

    # Battery gauge.
    def battery_pct(self) -> int:
        """State of charge, 0 to 100."""
        raise NotImplementedError

    def is_charging(self) -> bool:
        raise NotImplementedError

    # Real-time clock, UTC.
    def now_ms(self) -> int:
        """Milliseconds since 1970-01-01T00:00:00Z."""
        raise NotImplementedError

    def set_ms(self, clock_utc_ms: int) -> None:
        """Raise when the RTC does not take the time: the dock hears Error(CLOCK_FAULT)."""
        raise NotImplementedError

    # SD card.
    def total_bytes(self) -> int:
        raise NotImplementedError

    def free_bytes(self) -> int:
        raise NotImplementedError

    def list_clips(self) -> list:
        """Every clip on the card, as dicts with the CLIP_FIELDS keys, in any order."""
        raise NotImplementedError

    def clip_sha256(self, path: str) -> bytes:
        """The clip's SHA-256 (32 bytes), read from the card: for boards that keep none."""
        raise NotImplementedError

    def delete_clip(self, path: str) -> None:
        raise NotImplementedError

    # Record state.
    def is_recording(self) -> bool:
        raise NotImplementedError

    # USB mass-storage switch: while on, the host sees the card as a disk.
    def set_mass_storage(self, is_on: bool) -> None:
        raise NotImplementedError

    def is_mass_storage_on(self) -> bool:
        raise NotImplementedError

    # Event log, append-only, oldest first.
    def events(self) -> list:
        """Every event, as dicts with the EVENT_FIELDS keys, index 0 first."""
        raise NotImplementedError

    # Persistent settings: they survive power-off.
    def load_key(self):  # -> bytes | None
        """The 32-byte pairing key, or None on a factory-fresh recorder."""
        raise NotImplementedError

    def save_key(self, key: bytes) -> None:
        raise NotImplementedError

    def load_identity(self):  # -> dict | None
        """The GA/T 947.4 identity record (IDENTITY_KEYS), or None if never written."""
        raise NotImplementedError

    def save_identity(self, identity: dict) -> None:
        raise NotImplementedError

    # Randomness for authentication nonces: must come from a hardware source on a board.
    def random_bytes(self, count: int) -> bytes:
        raise NotImplementedError

    # Firmware update (firmware.update): two slots, A (0) and B (1), on internal flash.
    def trusted_keys(self) -> list:
        """The agency's Ed25519 public keys (32 bytes each), fixed when the recorder is built."""
        raise NotImplementedError

    def load_boot_state(self):  # -> dict | None
        """What firmware.update saved with save_boot_state, or None on a fresh recorder."""
        raise NotImplementedError

    def save_boot_state(self, state: dict) -> None:
        """Keep the state across power loss: written whole, replaced atomically."""
        raise NotImplementedError

    def slot_erase(self, slot: int) -> None:
        raise NotImplementedError

    def slot_append(self, slot: int, data: bytes) -> None:
        """Add data at the slot's end, durably: slot_size counts only what survives."""
        raise NotImplementedError

    def slot_size(self, slot: int) -> int:
        raise NotImplementedError

    def slot_sha256(self, slot: int) -> bytes:
        raise NotImplementedError

    def self_test(self, version: str) -> bool:
        """Run by a firmware on its test boot: does this hardware work under it?"""
        raise NotImplementedError

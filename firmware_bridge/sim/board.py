"""The simulated recorder's hardware, behind the firmware's own `Board` interface.

The clock runs at the host's pace with a settable skew, as an RTC does; the card is a
`Storage`; the per-clip metadata a real recorder keeps in its database (times, place,
SHA-256 taken while recording, the "important" lock) is held here in memory, keyed by path.
A file on the card that the recorder never recorded (or every file of a card served as it
is) is listed with what the card itself says (`sim.card`: times from its name and modify
time, the read-only mark) and a hash only where the storage was given one: the dock must
cope with whatever a card holds.
"""

import os
import threading
import time
from collections.abc import Callable

from firmware_bridge.firmware.board import IDENTITY_KEYS, Board
from firmware_bridge.firmware.memory_slots import MemorySlots
from firmware_bridge.sim.card import is_important, listing_times
from firmware_bridge.sim.clips import GeneratedClip
from firmware_bridge.sim.faults import LIED_SIZE_DELTA_BYTES
from firmware_bridge.sim.storage import Storage


class SimBoard(MemorySlots, Board):
    def __init__(
        self,
        storage: Storage,
        *,
        serial: str = "ZFY00001",
        model: str = "ZFY-SIM",
        firmware_version: str = "1.0.0",
        battery_pct: int = 90,
        is_charging: bool = True,
        clock_skew_s: float = 0.0,
        clips: list[GeneratedClip] | None = None,
        events: list[dict] | None = None,
        key: bytes | None = None,
        identity: dict | None = None,
        is_recording: bool = False,
        lie_about_sizes: bool = False,
        wall_clock_s: Callable[[], float] = time.time,
        on_mass_storage: Callable[[bool], None] | None = None,
        trusted_keys: list[bytes] | None = None,
        failing_self_test_version: str | None = None,
    ) -> None:
        self.storage = storage
        super().__init__(serial, model, firmware_version)
        self._init_slots(trusted_keys, failing_self_test_version)
        self.battery_percent = battery_pct
        self.charging = is_charging
        self.clock_skew_s = clock_skew_s
        self._clips = {clip.path: clip for clip in clips or []}
        self.event_log = list(events or [])
        self.key = key
        self.identity = dict(identity) if identity else None
        self.recording = is_recording
        self.lie_about_sizes = lie_about_sizes
        self._wall_clock_s = wall_clock_s
        self._on_mass_storage = on_mass_storage
        self.mass_storage_on = False
        self.deleted: list[str] = []
        self._lock = threading.Lock()

    def battery_pct(self) -> int:
        return self.battery_percent

    def is_charging(self) -> bool:
        return self.charging

    def now_ms(self) -> int:
        return int((self._wall_clock_s() + self.clock_skew_s) * 1000)

    def set_ms(self, clock_utc_ms: int) -> None:
        self.clock_skew_s = clock_utc_ms / 1000 - self._wall_clock_s()

    def total_bytes(self) -> int:
        return self.storage.total_bytes()

    def free_bytes(self) -> int:
        return self.storage.free_bytes()

    def list_clips(self) -> list:
        listing = []
        for path, size_bytes in self.storage.list_files():
            known = self._clips.get(path)
            if known is not None:
                clip = known.as_listing()
                clip["size_bytes"] = size_bytes
            else:
                facts = self.storage.facts(path)
                start_utc_s, end_utc_s = listing_times(path, facts, self.storage.utc_offset_min)
                clip = {
                    "path": path,
                    "start_utc_s": start_utc_s,
                    "end_utc_s": end_utc_s,
                    "size_bytes": size_bytes,
                    "sha256": self.storage.device_hashes.get(path, b""),
                    "is_important": is_important(path, facts),
                    "place": "",
                }
            if self.lie_about_sizes:
                clip["size_bytes"] = size_bytes + LIED_SIZE_DELTA_BYTES
            listing.append(clip)
        return listing

    def clip_sha256(self, path: str) -> bytes:
        return self.storage.sha256(path)

    def delete_clip(self, path: str) -> None:
        self.storage.delete(path)
        self._clips.pop(path, None)
        self.deleted.append(path)

    def is_recording(self) -> bool:
        return self.recording

    def set_mass_storage(self, is_on: bool) -> None:
        changed = self.mass_storage_on != bool(is_on)
        self.mass_storage_on = bool(is_on)
        if changed and self._on_mass_storage is not None:
            self._on_mass_storage(self.mass_storage_on)

    def is_mass_storage_on(self) -> bool:
        return self.mass_storage_on

    def events(self) -> list:
        return list(self.event_log)

    def load_key(self) -> bytes | None:
        return self.key

    def save_key(self, key: bytes) -> None:
        self.key = bytes(key)

    def load_identity(self) -> dict | None:
        return dict(self.identity) if self.identity else None

    def save_identity(self, identity: dict) -> None:
        self.identity = {name: identity[name] for name in IDENTITY_KEYS}

    def random_bytes(self, count: int) -> bytes:
        return os.urandom(count)

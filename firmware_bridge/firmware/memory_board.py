"""A recorder board held entirely in memory, deterministic, in the MicroPython subset.

It exists so the golden vectors can drive the same `Recorder` under CPython and under a
real MicroPython interpreter and compare the reply bytes: a fixed clock, a fixed random
stream (SHA-256 of a seed and a counter) and clips whose content is known. It is not a
simulator (that is `firmware_bridge.sim`, with real images and a pty).
"""

import binascii
import hashlib

from firmware_bridge.firmware.board import Board
from firmware_bridge.firmware.memory_slots import MemorySlots


class MemoryBoard(MemorySlots, Board):
    def __init__(
        self,
        serial="ZFY00001",
        model="MEM-1",
        firmware_version="0.1.0",
        battery_pct=90,
        is_charging=False,
        clock_utc_ms=1795000000000,
        total_bytes=64000000000,
        free_bytes=60000000000,
        clips=None,
        contents=None,
        events=None,
        key=None,
        identity=None,
        random_seed=b"memory-board",
        is_recording=False,
        is_rtc_failing=False,
        trusted_keys=None,
        failing_self_test_version=None,
    ):
        super().__init__(serial, model, firmware_version)
        self._init_slots(trusted_keys, failing_self_test_version)
        self._battery_pct = battery_pct
        self._is_charging = is_charging
        self._clock_utc_ms = clock_utc_ms
        self._total_bytes = total_bytes
        self._free_bytes = free_bytes
        self.clips = list(clips or [])
        self.contents = dict(contents or {})
        self._events = list(events or [])
        self.key = key
        self.identity = identity
        self._random_seed = random_seed
        self._random_counter = 0
        self._is_recording = is_recording
        self.is_rtc_failing = is_rtc_failing  # a dead clock battery: set_ms fails
        self.mass_storage_on = False
        self.deleted = []  # paths, in the order deleted: what tests assert on

    @classmethod
    def from_config(cls, config):
        """Build from the JSON-friendly dict of tests/vectors/frames.json ("board")."""
        clips = []
        contents = {}
        for raw in config.get("clips", []):
            clip = {}
            for name in ("path", "start_utc_s", "end_utc_s", "size_bytes", "is_important"):
                clip[name] = raw[name]
            clip["place"] = raw.get("place", "")
            clip["sha256"] = binascii.unhexlify(raw.get("sha256", ""))
            clips.append(clip)
            if "content_hex" in raw:
                contents[raw["path"]] = binascii.unhexlify(raw["content_hex"])
        key = config.get("key")
        return cls(
            serial=config["serial"],
            model=config["model"],
            firmware_version=config["firmware_version"],
            battery_pct=config["battery_pct"],
            is_charging=config["is_charging"],
            clock_utc_ms=config["clock_utc_ms"],
            total_bytes=config["total_bytes"],
            free_bytes=config["free_bytes"],
            clips=clips,
            contents=contents,
            events=config.get("events", []),
            key=None if key is None else binascii.unhexlify(key),
            identity=config.get("identity"),
            random_seed=config["random_seed"].encode(),
            is_recording=config.get("is_recording", False),
            is_rtc_failing=config.get("is_rtc_failing", False),
            trusted_keys=[binascii.unhexlify(k) for k in config.get("trusted_keys", [])],
        )

    def battery_pct(self):
        return self._battery_pct

    def is_charging(self):
        return self._is_charging

    def now_ms(self):
        return self._clock_utc_ms

    def set_ms(self, clock_utc_ms):
        if self.is_rtc_failing:
            raise OSError("RTC did not take the time")
        self._clock_utc_ms = clock_utc_ms

    def total_bytes(self):
        return self._total_bytes

    def free_bytes(self):
        return self._free_bytes

    def list_clips(self):
        return list(self.clips)

    def clip_sha256(self, path):
        if path not in self.contents:
            raise OSError("no content for " + path)
        return hashlib.sha256(self.contents[path]).digest()

    def delete_clip(self, path):
        kept = [clip for clip in self.clips if clip["path"] != path]
        if len(kept) == len(self.clips):
            raise OSError("no clip " + path)
        self.clips = kept
        self.contents.pop(path, None)
        self.deleted.append(path)

    def is_recording(self):
        return self._is_recording

    def set_mass_storage(self, is_on):
        self.mass_storage_on = bool(is_on)

    def is_mass_storage_on(self):
        return self.mass_storage_on

    def events(self):
        return list(self._events)

    def load_key(self):
        return self.key

    def save_key(self, key):
        self.key = bytes(key)

    def load_identity(self):
        return self.identity

    def save_identity(self, identity):
        self.identity = dict(identity)

    def random_bytes(self, count):
        out = b""
        while len(out) < count:
            block = self._random_seed + str(self._random_counter).encode()
            out += hashlib.sha256(block).digest()
            self._random_counter += 1
        return out[:count]

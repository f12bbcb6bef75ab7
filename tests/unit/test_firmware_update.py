"""The update handler's begin: a resume with the bytes already checked skips the check only."""

import pytest

from firmware_bridge import messages
from firmware_bridge.firmware import ed25519, update
from firmware_bridge.firmware.memory_board import MemoryBoard
from firmware_bridge.image import DEV_KEY_PATH, build_image, dev_public_key, load_private_key

PAYLOAD = bytes(i % 251 for i in range(10_000))


@pytest.fixture
def image():
    key = load_private_key(DEV_KEY_PATH)
    return build_image(PAYLOAD, model="MEM-1", version="1.1.0", min_version="0.1.0", key=key)


@pytest.fixture
def checks(monkeypatch):
    """How many signature checks the recorder ran: the real check, counted."""
    calls = []
    real = ed25519.verify

    def counted(key, message, signature):
        calls.append(message)
        return real(key, message, signature)

    monkeypatch.setattr(ed25519, "verify", counted)
    return calls


def _begin(updater, manifest, signature):
    return updater.begin({"manifest": manifest, "signature": signature, "allow_downgrade": False})


def _started(image):
    board = MemoryBoard(trusted_keys=[dev_public_key()])
    updater = update.Updater(board)
    _begin(updater, image.manifest_bytes, image.signature)
    updater.chunk({"offset": 0, "data": PAYLOAD[:4000]})
    return board, updater


def test_a_resume_with_the_checked_manifest_and_signature_is_not_checked_again(image, checks):
    board, updater = _started(image)
    assert len(checks) == 1
    progress = _begin(update.Updater(board), image.manifest_bytes, image.signature)
    assert progress["next_offset"] == 4000
    assert len(checks) == 1


def test_a_resume_with_another_signature_is_checked_and_refused(image, checks):
    board, updater = _started(image)
    forged = image.signature[:40] + bytes([image.signature[40] ^ 0x10]) + image.signature[41:]
    with pytest.raises(update.UpdateRefused) as refused:
        _begin(updater, image.manifest_bytes, forged)
    assert refused.value.code == messages.ERR_BAD_SIGNATURE
    assert len(checks) == 2
    assert board.slot_size(1) == 4000  # a refused begin leaves the transfer as it was


def test_a_transfer_saved_without_a_seal_is_checked_again_and_resumes(image, checks):
    board, updater = _started(image)
    state = board.load_boot_state()
    state["transfer"] = {k: v for k, v in state["transfer"].items() if k != "seal"}
    board.save_boot_state(state)  # as a firmware from before the seal left it
    progress = _begin(updater, image.manifest_bytes, image.signature)
    assert progress["next_offset"] == 4000
    assert len(checks) == 2

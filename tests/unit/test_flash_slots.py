"""The RP2 board's firmware slots and boot state as files (firmware.flash_slots), driven by the
real update handler: a signed image sent in chunks, resumed by a board object built anew on
the same folder (as after a power cut), committed, unpacked for its boot, confirmed or
rolled back. Under CPython on a temporary folder; tests/integration/test_micropython_boot.py
runs the same files and the boot path under real MicroPython."""

import binascii
import hashlib

import pytest

from firmware_bridge import messages
from firmware_bridge.firmware import update
from firmware_bridge.firmware.board import Board
from firmware_bridge.firmware.flash_slots import KEYS_NAME, FlashSlots
from firmware_bridge.image import (
    DEV_KEY_PATH,
    build_image,
    dev_public_key,
    load_private_key,
    pack_files,
)

FILES = [
    ("firmware_bridge/__init__.py", b""),
    ("firmware_bridge/firmware/hello.py", b"GREETING = 'from slot 1'\n" * 300),
]
PAYLOAD = pack_files(FILES)
CHUNK = 1000


class FlashBoard(FlashSlots, Board):
    def __init__(self, folder, *, passes_self_test=True):
        super().__init__("ZFY00001", "ZFY-RP2", "1.0.0")
        self._init_slots(str(folder))
        self.passes_self_test = passes_self_test

    def self_test(self, version):
        return self.passes_self_test


@pytest.fixture
def folder(tmp_path):
    keys = tmp_path / "fw"
    keys.mkdir()
    (keys / KEYS_NAME).write_text(binascii.hexlify(dev_public_key()).decode() + "\n")
    return keys


def signed(version, payload=PAYLOAD):
    key = load_private_key(DEV_KEY_PATH)
    return build_image(payload, model="ZFY-RP2", version=version, min_version="0.1.0", key=key)


def begin(board, image):
    fields = {"manifest": image.manifest_bytes, "signature": image.signature}
    return update.Updater(board).begin({**fields, "allow_downgrade": False})


def send(board, image, start, end):
    for offset in range(start, end, CHUNK):
        data = image.payload[offset : min(offset + CHUNK, end)]
        update.Updater(board).chunk({"offset": offset, "data": data})


def test_an_image_sent_in_chunks_resumes_on_a_new_board_object_and_boots_once_confirmed(folder):
    image = signed("1.1.0")
    first = FlashBoard(folder)
    assert begin(first, image)["next_offset"] == 0
    send(first, image, 0, 5 * CHUNK)
    again = FlashBoard(folder)  # the recorder lost power: only the files remain
    assert begin(again, image)["next_offset"] == 5 * CHUNK
    send(again, image, 5 * CHUNK, len(image.payload))
    assert again.slot_sha256(1) == image.sha256 == hashlib.sha256(PAYLOAD).digest()
    committed = update.Updater(again).commit({"image_sha256": image.sha256})
    assert (committed["pending_slot"], committed["last_result"]) == (1, messages.FIRMWARE_PENDING)

    booting = FlashBoard(folder)
    assert update.power_on(booting) == 1
    state = update.firmware_state(booting)
    assert (state["running_slot"], state["running_version"]) == (1, "1.1.0")
    assert state["last_result"] == messages.FIRMWARE_CONFIRMED
    run = booting.unpack_slot(1)
    assert run is not None
    for name, data in FILES:
        assert (folder / "run1" / name).read_bytes() == data
    assert booting.unpack_slot(1) == run  # unpacked once per image
    assert booting.unpack_slot(0) is None  # never written: the factory's files run


def test_a_slot_unpacked_for_another_image_keeps_none_of_the_old_images_files(folder):
    board = FlashBoard(folder)
    for files in (FILES, [("firmware_bridge/firmware/other.py", b"X = 1\n")]):
        board.slot_erase(1)
        board.slot_append(1, pack_files(files))
        run = board.unpack_slot(1)
    assert run is not None
    laid_out = sorted(p.relative_to(run).as_posix() for p in (folder / "run1").rglob("*.py"))
    assert laid_out == ["firmware_bridge/firmware/other.py"]


def test_a_test_boot_that_fails_its_self_test_rolls_back_to_the_old_slot(folder):
    image = signed("1.1.0")
    board = FlashBoard(folder, passes_self_test=False)
    begin(board, image)
    send(board, image, 0, len(image.payload))
    update.Updater(board).commit({"image_sha256": image.sha256})
    assert update.power_on(FlashBoard(folder, passes_self_test=False)) == 0
    state = update.firmware_state(FlashBoard(folder))
    assert (state["running_slot"], state["pending_slot"]) == (0, messages.NO_SLOT)
    assert (state["last_result"], state["last_version"]) == (messages.FIRMWARE_ROLLED_BACK, "1.1.0")


def test_a_slot_that_does_not_hash_to_its_manifest_is_erased_at_commit(folder):
    image = signed("1.1.0")
    board = FlashBoard(folder)
    begin(board, image)
    board.slot_append(1, bytes(len(image.payload)))  # the right size, the wrong bytes
    with pytest.raises(update.UpdateRefused) as refused:
        update.Updater(board).commit({"image_sha256": image.sha256})
    assert refused.value.code == messages.ERR_HASH_MISMATCH
    assert board.slot_size(1) == 0 and not (folder / "slot1.bin").exists()


def test_without_the_agency_keys_file_every_image_is_refused(folder):
    (folder / KEYS_NAME).unlink()
    board = FlashBoard(folder)
    assert board.trusted_keys() == []
    with pytest.raises(update.UpdateRefused) as refused:
        begin(board, signed("1.1.0"))
    assert refused.value.code == messages.ERR_BAD_SIGNATURE


def test_a_packed_name_outside_the_slots_folder_is_not_unpacked(folder):
    board = FlashBoard(folder)
    board.slot_append(0, pack_files([("../main.py", b"import evil\n")]))
    with pytest.raises(OSError, match="outside its folder"):
        board.unpack_slot(0)
    assert not (folder.parent / "main.py").exists()

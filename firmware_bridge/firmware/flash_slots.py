"""Firmware slots and boot state as files on the recorder's internal flash (the RP2 board's).

A real recorder's slots must survive a power cut mid-transfer, because the dock resumes from
the size the recorder reports. So each append is written, flushed and synced before the
reply counts it; a cut inside an append can only leave the slot longer by a prefix of the
chunk, which the next FirmwareBegin reports and the dock continues from. The boot state is
written to a new file and renamed over the old one (one step on littlefs): a cut leaves the
old state or the new, never half of one. A slot holds the image's payload, the firmware's
files packed by `firmware_bridge.image.pack_files`; `unpack_slot` lays them out in a folder
the boot path puts first on `sys.path`. Nothing here needs `machine`, so the same code runs
under CPython and MicroPython on any folder. MicroPython subset.
"""

import binascii
import hashlib
import json
import os
import struct

READ_BYTES = 4096
SLOT_NAMES = ("slot0.bin", "slot1.bin")
STATE_NAME = "boot_state.json"
KEYS_NAME = "trusted_keys.txt"  # the agency's public keys, one hex line each, set at build
UNPACKED_NAME = "unpacked.txt"  # in an unpacked folder: the SHA-256 of the slot it came from


def _sync():
    sync = getattr(os, "sync", None)  # MicroPython has it on boards with a filesystem
    if sync is not None:
        sync()


def _remove(path):
    try:  # noqa: SIM105 - MicroPython has no contextlib
        os.remove(path)
    except OSError:
        pass  # it was not there: removed all the same


def _makedirs(path):
    """Every missing folder of `path`, outermost first (MicroPython has no os.makedirs)."""
    parts = path.split("/")
    for n in range(1, len(parts) + 1):
        folder = "/".join(parts[:n])
        if not folder:
            continue  # the root of an absolute path
        try:  # noqa: SIM105 - MicroPython has no contextlib
            os.mkdir(folder)
        except OSError:
            pass  # there already


def _remove_tree(path):
    """`path` and everything below it, if it is there (MicroPython has no shutil)."""
    try:
        names = os.listdir(path)
    except OSError:
        return  # not there
    for name in names:
        child = path + "/" + name
        if os.stat(child)[0] & 0x4000:  # S_IFDIR
            _remove_tree(child)
        else:
            os.remove(child)
    os.rmdir(path)


def _write_all(path, data):
    """Write a whole file durably: a new file renamed over the old one."""
    with open(path + ".new", "wb") as handle:
        handle.write(data)
        handle.flush()
    _sync()
    os.rename(path + ".new", path)
    _sync()


class FlashSlots:
    """Mix into a Board: two slot files, the boot state and the trusted keys in `folder`."""

    def _init_slots(self, folder):
        self.folder = folder.rstrip("/")

    def _path(self, name):
        return self.folder + "/" + name

    def trusted_keys(self):
        keys = []  # type: list
        try:
            with open(self._path(KEYS_NAME)) as handle:
                lines = handle.read().split()
        except OSError:
            return keys  # no keys: every image is refused, the running firmware stays
        for line in lines:
            if len(line) == 64:
                keys.append(binascii.unhexlify(line))
        return keys

    def load_boot_state(self):
        try:
            with open(self._path(STATE_NAME)) as handle:
                return json.loads(handle.read())
        except OSError:
            return None  # a fresh recorder
        except ValueError:
            return None  # unreadable (never left by _write_all): start from the running slot

    def save_boot_state(self, state):
        _write_all(self._path(STATE_NAME), json.dumps(state).encode())

    def slot_erase(self, slot):
        _remove(self._path(SLOT_NAMES[slot]))
        _sync()

    def slot_append(self, slot, data):
        with open(self._path(SLOT_NAMES[slot]), "ab") as handle:
            handle.write(data)
            handle.flush()
        _sync()

    def slot_size(self, slot):
        try:
            return os.stat(self._path(SLOT_NAMES[slot]))[6]
        except OSError:
            return 0

    def slot_sha256(self, slot):
        digest = hashlib.sha256()
        buf = bytearray(READ_BYTES)
        view = memoryview(buf)
        if self.slot_size(slot) == 0:
            return digest.digest()  # an erased slot hashes as empty
        with open(self._path(SLOT_NAMES[slot]), "rb") as handle:
            while True:
                count = handle.readinto(buf)
                if not count:
                    break
                digest.update(view[:count])
        return digest.digest()

    def unpack_slot(self, slot):
        """The folder holding the slot's files, unpacked once per image; None if it is empty.

        The folder is rebuilt when the slot holds another image than the one unpacked there."""
        if self.slot_size(slot) == 0:
            return None
        folder = self._path("run%d" % slot)
        marker = folder + "/" + UNPACKED_NAME
        digest = binascii.hexlify(self.slot_sha256(slot)).decode()
        try:
            with open(marker) as handle:
                if handle.read() == digest:
                    return folder
        except OSError:
            pass  # never unpacked
        _remove(marker)  # a cut below leaves no marker: unpacked again on the next boot
        _remove_tree(folder)  # no file of the image unpacked before may be imported instead
        _makedirs(folder)
        with open(self._path(SLOT_NAMES[slot]), "rb") as packed:
            while True:
                head = packed.read(2)
                if len(head) < 2:
                    break
                name = packed.read(struct.unpack("<H", head)[0]).decode()
                size = struct.unpack("<I", packed.read(4))[0]
                if name.startswith("/") or ".." in name.split("/"):
                    raise OSError("slot %d: file name %s outside its folder" % (slot, name))
                target = folder + "/" + name
                _makedirs(target[: target.rfind("/")])
                _copy(packed, target, size)
        _write_all(marker, digest.encode())
        return folder


def _copy(source, path, size):
    with open(path, "wb") as out:
        while size > 0:
            data = source.read(min(size, READ_BYTES))
            if not data:
                raise OSError("slot ends inside " + path)
            out.write(data)
            size -= len(data)

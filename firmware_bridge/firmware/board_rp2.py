"""The recorder board on an RP2040/RP2350 (Raspberry Pi Pico class), MicroPython only.

Wiring assumed (change the pin constants for another board): battery through the Pico's
VSYS/3 divider on ADC 3 (GPIO 29), the charger's active-low STAT on GPIO 22, the SD card on
SPI 1 mounted at /sd, and GPIO 15 driving the USB mux that hands the card to the host's
mass-storage bridge. Per-clip SHA-256s are taken while recording and kept in a sidecar file
on the card, so listing never rereads gigabytes; the pairing key and identity live on the
internal flash, never on the card a stranger could pull out. So do the firmware slots, the
boot state and the agency's keys (firmware.flash_slots, in FIRMWARE_FOLDER): an image is
checked and booted from the recorder's own flash, and the card only ever holds clips.
"""

import binascii
import hashlib
import os
import time

import machine

from firmware_bridge.firmware.board import IDENTITY_KEYS, Board
from firmware_bridge.firmware.flash_slots import FlashSlots

SD_ROOT = "/sd"
CLIP_FOLDERS = ("DCIM", "AUDIO")
HASHES_FILE = "/sd/.hashes"  # lines: sha256-hex path
LOCKED_FILE = "/sd/.locked"  # lines: path of an "important" clip
EVENTS_FILE = "/sd/.events"  # lines: utc_s,kind,reason,clip_path
KEY_FILE = "/key.bin"
IDENTITY_FILE = "/identity.txt"  # four lines, IDENTITY_KEYS order
FIRMWARE_FOLDER = "/fw"  # slot0.bin, slot1.bin, boot_state.json, trusted_keys.txt

BATTERY_ADC_PIN = 29
CHARGER_STAT_PIN = 22
MSC_SWITCH_PIN = 15
SD_SPI_ID = 1
SD_CS_PIN = 13
EMPTY_MV = 3300
FULL_MV = 4200
READ_CHUNK_BYTES = 4096
DIR_TYPE = 0x4000
# MicroPython ports count seconds from 1970 or from 2000; the link always speaks 1970.
EPOCH_OFFSET_S = 0 if time.gmtime(0)[0] == 1970 else 946684800


def _read_lines(path):
    try:
        with open(path) as handle:
            return [line.rstrip("\n") for line in handle]
    except OSError:
        return []


def _name_time_s(name):
    """Seconds since 1970 from a name like 20261123_081502_0001.MP4, or 0."""
    try:
        day, clock = name[:8], name[9:15]
        parts = (int(day[:4]), int(day[4:6]), int(day[6:8]))
        hms = (int(clock[:2]), int(clock[2:4]), int(clock[4:6]))
        return time.mktime(parts + hms + (0, 0)) + EPOCH_OFFSET_S
    except (ValueError, IndexError):
        return 0


class RP2Board(FlashSlots, Board):
    def __init__(self, serial="ZFY00001", model="ZFY-RP2", firmware_version="1.0.0"):
        super().__init__(serial, model, firmware_version)
        self._init_slots(FIRMWARE_FOLDER)
        self._adc = machine.ADC(machine.Pin(BATTERY_ADC_PIN))
        self._charger = machine.Pin(CHARGER_STAT_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
        self._msc = machine.Pin(MSC_SWITCH_PIN, machine.Pin.OUT, value=0)
        self._rtc = machine.RTC()
        self.recording = False  # set by the recording task
        self._mount_card()

    def _mount_card(self):
        import sdcard  # type: ignore[import-not-found]  # micropython-lib driver, frozen in
        import vfs

        spi = machine.SPI(SD_SPI_ID)
        card = sdcard.SDCard(spi, machine.Pin(SD_CS_PIN))
        # The stubs derive VfsFat from AbstractBlockDev, which makes it look abstract.
        vfs.mount(vfs.VfsFat(card), SD_ROOT)  # type: ignore[abstract]

    def battery_pct(self):
        millivolts = self._adc.read_u16() * 3300 * 3 // 65535
        pct = (millivolts - EMPTY_MV) * 100 // (FULL_MV - EMPTY_MV)
        return max(0, min(100, pct))

    def is_charging(self):
        return self._charger.value() == 0

    def now_ms(self):
        year, month, day, _weekday, hours, minutes, seconds, _sub = self._rtc.datetime()
        local = time.mktime((year, month, day, hours, minutes, seconds, 0, 0))
        return (local + EPOCH_OFFSET_S) * 1000

    def set_ms(self, clock_utc_ms):
        t = time.gmtime(clock_utc_ms // 1000 - EPOCH_OFFSET_S)
        self._rtc.datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))

    def total_bytes(self):
        stat = os.statvfs(SD_ROOT)
        return stat[1] * stat[2]

    def free_bytes(self):
        stat = os.statvfs(SD_ROOT)
        return stat[1] * stat[3]

    def _hashes(self):
        hashes = {}
        for line in _read_lines(HASHES_FILE):
            digest, _, path = line.partition(" ")
            if len(digest) == 64:
                hashes[path] = binascii.unhexlify(digest)
        return hashes

    def list_clips(self):
        hashes = self._hashes()
        locked = set(_read_lines(LOCKED_FILE))
        clips = []  # type: list
        for folder in CLIP_FOLDERS:
            self._walk(folder, 0, hashes, locked, clips)
        return clips

    def _walk(self, path, depth, hashes, locked, clips):
        if depth > 3:
            return
        try:
            entries = list(os.ilistdir(SD_ROOT + "/" + path))
        except OSError:
            return
        for entry in entries:
            name, kind = entry[0], entry[1]
            child = path + "/" + name
            if kind == DIR_TYPE:
                self._walk(child, depth + 1, hashes, locked, clips)
                continue
            stat = os.stat(SD_ROOT + "/" + child)
            start = _name_time_s(name)
            clips.append(
                {
                    "path": child,
                    "start_utc_s": start,
                    "end_utc_s": max(start, stat[8] + EPOCH_OFFSET_S),
                    "size_bytes": stat[6],
                    "sha256": hashes.get(child, b""),
                    "is_important": child in locked,
                    "place": "",
                }
            )

    def clip_sha256(self, path):
        digest = hashlib.sha256()
        buf = bytearray(READ_CHUNK_BYTES)
        with open(SD_ROOT + "/" + path, "rb") as handle:
            while True:
                count = handle.readinto(buf)
                if not count:
                    break
                digest.update(buf[:count])
        return digest.digest()

    def delete_clip(self, path):
        os.remove(SD_ROOT + "/" + path)
        kept = [line for line in _read_lines(HASHES_FILE) if line[65:] != path]
        with open(HASHES_FILE + ".new", "w") as handle:
            for line in kept:
                handle.write(line + "\n")
        os.rename(HASHES_FILE + ".new", HASHES_FILE)

    def is_recording(self):
        return self.recording

    def set_mass_storage(self, is_on):
        if is_on:
            os.sync()  # the host must see every clip we wrote
        self._msc.value(1 if is_on else 0)

    def is_mass_storage_on(self):
        return self._msc.value() == 1

    def events(self):
        events = []  # type: list
        for line in _read_lines(EVENTS_FILE):
            parts = line.split(",", 3)
            if len(parts) != 4:
                continue
            events.append(
                {
                    "index": len(events),
                    "utc_s": int(parts[0]),
                    "kind": int(parts[1]),
                    "reason": int(parts[2]),
                    "clip_path": parts[3],
                }
            )
        return events

    def load_key(self):
        try:
            with open(KEY_FILE, "rb") as handle:
                key = handle.read()
        except OSError:
            return None
        return key if len(key) == 32 else None

    def save_key(self, key):
        with open(KEY_FILE + ".new", "wb") as handle:
            handle.write(key)
        os.rename(KEY_FILE + ".new", KEY_FILE)

    def load_identity(self):
        lines = _read_lines(IDENTITY_FILE)
        if len(lines) != len(IDENTITY_KEYS):
            return None
        return dict(zip(IDENTITY_KEYS, lines))

    def save_identity(self, identity):
        with open(IDENTITY_FILE + ".new", "w") as handle:
            for key in IDENTITY_KEYS:
                handle.write(" ".join(identity[key].split()) + "\n")
        os.rename(IDENTITY_FILE + ".new", IDENTITY_FILE)

    def random_bytes(self, count):
        return os.urandom(count)

    def self_test(self, version):
        """On a test boot: the recorder under this firmware still reads its battery, clock and
        card, and holds an agency key; anything raising is a failure (rolled back)."""
        try:
            self.battery_pct()
            self.now_ms()
            self.free_bytes()
            self.list_clips()
            return len(self.trusted_keys()) > 0
        except Exception:  # any fault of the new firmware or the hardware under it
            return False

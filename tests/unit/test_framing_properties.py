"""Properties of the frame decoder: whatever the line carries, frames or frame errors, bounded.

A recorder's serial line is hostile input (a broken cable, a confused firmware, someone
else's device): the dock may reject bytes, never crash on them or hold unbounded memory.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.framing import (
    MAX_FRAME,
    MAX_PAYLOAD,
    SYNC,
    Frame,
    FrameError,
    FrameReader,
    decode_frame,
    encode_frame,
)
from firmware_bridge.link import rescan_partial

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

frames = st.builds(
    Frame,
    seq=st.integers(0, 255),
    msg_id=st.integers(0, 255),
    payload=st.binary(max_size=300),
)
# Noise biased towards what fools a resync: sync bytes, headers with big lengths.
noise = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.just(SYNC),
        st.just(SYNC[:1]),
        st.builds(lambda n: SYNC + n.to_bytes(2, "little"), st.integers(0, 0xFFFF)),
    ),
    max_size=4,
).map(b"".join)


def _encoded(frame):
    return encode_frame(frame.seq, frame.msg_id, frame.payload)


def _chunks(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[last:point])
        last = point
    return pieces


@SETTINGS
@given(st.binary(max_size=2 * MAX_FRAME))
def test_decode_frame_on_arbitrary_bytes_gives_a_frame_none_or_a_frame_error(data):
    buf = data
    for _ in range(len(data) + 1):
        try:
            frame, rest = decode_frame(buf)
        except FrameError as err:
            assert len(err.rest) < len(buf), "a frame error always makes progress"
            buf = err.rest
            continue
        if frame is None:
            assert rest == buf
            break
        assert isinstance(frame, Frame)
        assert len(frame.payload) <= MAX_PAYLOAD
        assert len(rest) < len(buf)
        buf = rest
    else:
        raise AssertionError("decoder did not finish within one step per byte")


@SETTINGS
@given(st.lists(st.binary(max_size=3 * MAX_FRAME // 2), max_size=6))
def test_frame_reader_on_arbitrary_chunks_yields_only_frames_and_errors_and_stays_bounded(
    chunks,
):
    reader = FrameReader()
    for chunk in chunks:
        for item in reader.feed(chunk):
            assert isinstance(item, Frame | FrameError)
        assert len(reader.buf) <= MAX_FRAME


@SETTINGS
@given(
    st.lists(st.tuples(noise, frames), min_size=1, max_size=5),
    st.lists(st.integers(min_value=0), max_size=8),
)
def test_valid_frames_after_noise_are_all_recovered_however_the_bytes_are_cut(pairs, cuts):
    stream = b"".join(n + _encoded(f) for n, f in pairs)
    reader = FrameReader()
    got = []
    for piece in _chunks(stream, cuts):
        got.extend(item for item in reader.feed(piece) if isinstance(item, Frame))
        assert len(reader.buf) <= MAX_FRAME
    while reader.has_partial():  # the line went quiet: what the link does on a timeout
        got.extend(item for item in rescan_partial(reader) if isinstance(item, Frame))
    sent = [f for _, f in pairs]
    # Noise can swallow a frame only by posing as a longer frame's header, whose CRC then
    # fails; the reader rescans, so each real frame still comes out, in order.
    assert [f for f in got if f in sent] == sent


@SETTINGS
@given(
    frames,
    st.integers(min_value=0),
    st.integers(1, 255),
    noise,
    frames,
)
def test_a_corrupted_or_cut_frame_is_rejected_and_the_next_frame_still_arrives(
    damaged, position, flip, between, good
):
    raw = bytearray(_encoded(damaged))
    raw[position % len(raw)] ^= flip
    reader = FrameReader()
    items = reader.feed(bytes(raw) + between + _encoded(good))
    frames_out = [item for item in items if isinstance(item, Frame)]
    while reader.has_partial():  # the line went quiet: what the link does on a timeout
        frames_out += [i for i in rescan_partial(reader) if isinstance(i, Frame)]
    # A CRC-32 over header and payload: the damaged frame never comes out, not even as
    # another frame, and the good one comes out once.
    assert frames_out == [good]


@SETTINGS
@given(frames, st.integers(min_value=1))
def test_a_frame_cut_short_is_never_returned(frame, keep):
    raw = _encoded(frame)
    cut = raw[: keep % len(raw)]
    assert [i for i in FrameReader().feed(cut) if isinstance(i, Frame)] == []

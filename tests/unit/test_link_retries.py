"""The link against the real firmware, in memory: retries, sequence, timeouts, typed errors.

The recorder is firmware_bridge.firmware.recorder.Recorder on a MemoryBoard; only the line
between them is tampered with, by a wrapper that edits the bytes the recorder sends back.
"""

import hashlib
from datetime import UTC, datetime

import pytest

from firmware_bridge import messages
from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import LinkTimeout, ProtocolError, Refused
from firmware_bridge.firmware.memory_board import MemoryBoard
from firmware_bridge.firmware.recorder import Recorder
from firmware_bridge.framing import decode_frame, encode_frame
from firmware_bridge.link import Link
from firmware_bridge.transport import MemoryTransport

KEY = bytes(range(32))
CONTENT = b"clip content"
CLIP = {
    "path": "DCIM/20261123/20261123_081502_0001.MP4",
    "start_utc_s": 1795940102,
    "end_utc_s": 1795940702,
    "size_bytes": len(CONTENT),
    "sha256": hashlib.sha256(CONTENT).digest(),
    "is_important": False,
    "place": "",
}
FAST_S = 0.02  # the in-memory line answers at once; only silence costs time


class TamperedLine:
    """A Recorder whose replies pass through `tamper(request_name, reply_bytes) -> bytes`."""

    def __init__(self, recorder, tamper):
        self.recorder = recorder
        self.tamper = tamper
        self.requests = []  # (seq, name) of every request frame the recorder received

    def receive(self, data):
        frame, _ = decode_frame(data)
        name = messages.BY_ID[frame.msg_id][1]
        self.requests.append((frame.seq, name))
        return self.tamper(name, self.recorder.receive(data))

    def on_line_idle(self):
        self.recorder.on_line_idle()


def _client(tamper=None, *, board=None, retries=3):
    board = board or MemoryBoard(key=KEY, clips=[CLIP], contents={CLIP["path"]: CONTENT})
    line = TamperedLine(Recorder(board), tamper or (lambda name, reply: reply))
    client = RecorderClient(MemoryTransport(line), timeout_s=FAST_S, retries=retries)
    return client, board, line


def _drop_first(request_name):
    dropped = []

    def tamper(name, reply):
        if name == request_name and not dropped:
            dropped.append(reply)
            return b""
        return reply

    return tamper


def test_retried_delete_after_a_lost_reply_deletes_the_clip_once():
    client, board, line = _client(_drop_first("DeleteClip"))
    client.hello()
    client.authenticate(KEY)
    client.delete_clip(CLIP["path"], CLIP["sha256"])
    deletes = [r for r in line.requests if r[1] == "DeleteClip"]
    assert len(deletes) == 2 and deletes[0] == deletes[1], "the same frame, same seq, resent"
    assert board.deleted == [CLIP["path"]]
    assert client.stats.retries == 1


def test_retried_set_clock_sets_the_clock_once_and_answers_ok():
    client, board, line = _client(_drop_first("SetClock"))
    client.hello()
    client.authenticate(KEY)
    board.set_ms(1795000000000)
    client.set_clock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    assert board.now_ms() == int(datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp() * 1000)
    assert [r[1] for r in line.requests].count("SetClock") == 2


def test_out_of_sequence_replies_are_discarded_and_the_right_reply_is_used():
    def stale_first(name, reply):
        if name != "GetStatus":
            return reply
        frame, _ = decode_frame(reply)
        msg_id, payload = messages.encode("Ok")
        stale = encode_frame((frame.seq - 1) & 0xFF, msg_id, payload)
        return stale + stale + reply

    client, board, _ = _client(stale_first)
    client.hello()
    status = client.status()
    assert status.battery_pct == board.battery_pct()
    assert client.stats.out_of_sequence == 2
    assert client.stats.retries == 0


def test_silent_recorder_raises_link_timeout_after_the_bounded_retries():
    client, _, line = _client(lambda name, reply: b"", retries=2)
    with pytest.raises(LinkTimeout, match="did not answer Hello"):
        client.hello()
    assert [name for _, name in line.requests] == ["Hello"] * 3


def test_corrupted_reply_is_dropped_and_the_retry_gets_a_clean_copy():
    corrupted = []

    def corrupt_once(name, reply):
        if name == "Identify" and not corrupted:
            corrupted.append(reply)
            return reply[:8] + bytes([reply[8] ^ 0x40]) + reply[9:]
        return reply

    client, board, _ = _client(corrupt_once)
    client.hello()
    assert client.identify().device_serial == board.serial()
    assert client.stats.frame_errors >= 1
    assert client.stats.retries == 1


def test_reply_cut_short_is_given_up_and_the_retry_is_answered_from_the_stored_reply():
    cut = []

    def cut_once(name, reply):
        if name == "GetStatus" and not cut:
            cut.append(reply)
            return reply[: len(reply) // 2]
        return reply

    client, _, _ = _client(cut_once)
    client.hello()
    assert client.status().storage_total_bytes == 64000000000
    assert client.stats.cut_frames == 1


def test_noise_before_a_reply_is_skipped():
    client, board, _ = _client(lambda name, reply: b"\x00\xa5\xff\xa5" + reply)
    assert client.hello().device_serial == board.serial()
    assert client.stats.frame_errors >= 1


def test_error_reply_raises_refused_with_its_code_and_the_request_name():
    client, _, _ = _client()
    client.hello()
    with pytest.raises(Refused, match="refused SetMassStorage: not authenticated") as caught:
        client.set_mass_storage(True)
    assert caught.value.code == messages.ERR_NOT_AUTHENTICATED


def test_request_before_hello_is_refused_hello_first():
    client, _, _ = _client()
    with pytest.raises(Refused) as caught:
        client.identify()
    assert caught.value.code == messages.ERR_HELLO_FIRST


def test_reply_of_the_wrong_kind_is_a_protocol_error():
    def ok_instead(name, reply):
        if name != "GetStatus":
            return reply
        frame, _ = decode_frame(reply)
        return encode_frame(frame.seq, *messages.encode("Ok"))

    client, _, _ = _client(ok_instead)
    client.hello()
    with pytest.raises(ProtocolError, match="answered GetStatus with Ok, not Status"):
        client.status()


def test_malformed_reply_with_a_good_crc_is_a_protocol_error_not_a_retry():
    def short_payload(name, reply):
        if name != "GetStatus":
            return reply
        frame, _ = decode_frame(reply)
        return encode_frame(frame.seq, frame.msg_id, frame.payload[:-1])

    client, _, _ = _client(short_payload)
    client.hello()
    with pytest.raises(ProtocolError, match="malformed"):
        client.status()
    assert client.stats.retries == 0


def test_endless_noise_cannot_hold_a_request_past_its_bounded_attempts():
    class NoisyLine:
        """Answers every read with noise at once, so the line is never quiet."""

        def __init__(self):
            self.writes = 0

        def write(self, data):
            self.writes += 1

        def read(self, max_bytes, timeout_s):
            return b"\x00" * min(max_bytes, 64)

        def close(self):
            pass

    line = NoisyLine()
    link = Link(line, timeout_s=FAST_S, retries=1, max_attempt_s=0.05)
    with pytest.raises(LinkTimeout):
        link.request("GetStatus")
    assert line.writes == 2
    assert link.stats.frame_errors > 0

"""The typed client against the real firmware in memory: handshake, auth, paging, answers."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from firmware_bridge import messages
from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import (
    AuthenticationFailed,
    ProtocolError,
    ProtocolMismatch,
    Refused,
    TooManyClips,
)
from firmware_bridge.firmware.memory_board import MemoryBoard
from firmware_bridge.firmware.recorder import Recorder
from firmware_bridge.framing import decode_frame, encode_frame
from firmware_bridge.transport import MemoryTransport

KEY = bytes(range(32))
FAST_S = 0.02


def _clip(i):
    content = b"clip %d" % i
    return {
        "path": f"DCIM/20261123/20261123_{80000 + i:06d}_{i:04d}.MP4",
        "start_utc_s": 1795940000 + 60 * i,
        "end_utc_s": 1795940000 + 60 * i + 59,
        "size_bytes": len(content),
        "sha256": hashlib.sha256(content).digest(),
        "is_important": i % 7 == 0,
        "place": "30.27,120.15" if i % 2 else "",
    }


def _connected(board, recorder=None):
    recorder = recorder or Recorder(board)
    client = RecorderClient(MemoryTransport(recorder), timeout_s=FAST_S)
    client.hello()
    return client


def test_hello_against_another_protocol_version_names_both_versions():
    board = MemoryBoard()
    recorder = Recorder(board, protocol_version=messages.PROTOCOL_VERSION - 1)
    client = RecorderClient(MemoryTransport(recorder), timeout_s=FAST_S)
    with pytest.raises(ProtocolMismatch) as caught:
        client.hello()
    text = str(caught.value)
    assert f"speaks protocol v{messages.PROTOCOL_VERSION - 1}" in text
    assert f"this dock speaks v{messages.PROTOCOL_VERSION}" in text
    assert "reflash" in text


def test_hello_against_another_message_table_is_a_mismatch_even_with_the_same_version():
    recorder = Recorder(MemoryBoard(), table_hash=bytes(8))
    client = RecorderClient(MemoryTransport(recorder), timeout_s=FAST_S)
    with pytest.raises(ProtocolMismatch, match="table 0000000000000000"):
        client.hello()


def test_identity_is_read_and_written_back_through_the_identity_record():
    board = MemoryBoard(key=KEY)
    client = _connected(board)
    client.authenticate(KEY)
    client.write_identity(
        officer_number="0451", officer_name="张伟", unit_number="330100", unit_name="城管局"
    )
    identity = client.identify()
    assert (identity.device_serial, identity.is_paired) == (board.serial(), True)
    assert (identity.officer_number, identity.officer_name) == ("0451", "张伟")
    assert (identity.unit_number, identity.unit_name) == ("330100", "城管局")


def test_status_clock_is_an_aware_utc_datetime_and_set_clock_reads_back():
    board = MemoryBoard(key=KEY, clock_utc_ms=1795000000000)
    client = _connected(board)
    before = client.status()
    assert before.clock_utc == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=1795000000)
    assert before.clock_utc.tzinfo is UTC
    client.authenticate(KEY)
    moment = datetime(2026, 11, 23, 16, 30, 0, 250000, tzinfo=UTC)
    client.set_clock(moment)
    assert client.status().clock_utc == moment


def test_set_clock_refuses_a_naive_datetime_before_it_reaches_the_wire():
    client = _connected(MemoryBoard(key=KEY))
    sent_before = client.stats.requests
    with pytest.raises(ValueError, match="aware"):
        client.set_clock(datetime(2026, 11, 23, 8, 0))  # noqa: DTZ001 - the point of the test
    assert client.stats.requests == sent_before


def test_list_clips_reads_every_page_in_path_order():
    clips = [_clip(i) for i in reversed(range(300))]
    client = _connected(MemoryBoard(clips=clips))
    listed = client.list_clips()
    assert [c.path for c in listed] == sorted(c["path"] for c in clips)
    pages = client.stats.requests - 1  # minus Hello
    assert pages > 1, "300 clips do not fit in one frame"
    by_path = {c["path"]: c for c in clips}
    assert all(by_path[c.path]["sha256"] == c.sha256 for c in listed)
    assert sum(c.is_important for c in listed) == sum(c["is_important"] for c in clips)


def test_list_clips_with_a_small_page_size_still_lists_everything_once():
    clips = [_clip(i) for i in range(25)]
    client = _connected(MemoryBoard(clips=clips))
    listed = client.list_clips(page_max_count=4)
    assert sorted(c.path for c in listed) == sorted(c["path"] for c in clips)
    assert len({c.path for c in listed}) == 25


class _ClaimsFourBillion(Recorder):
    """The real firmware, except that every page claims 4,294,967,295 clips."""

    pages_served = 0

    def _on_ListClips(self, fields):
        self.pages_served += 1
        name, page = super()._on_ListClips(fields)
        return name, dict(page, total=2**32 - 1)


def test_a_claim_above_max_total_stops_the_listing_after_one_page():
    clips = [_clip(i) for i in range(300)]
    recorder = _ClaimsFourBillion(MemoryBoard(clips=clips))
    client = _connected(recorder.board, recorder)
    with pytest.raises(TooManyClips) as caught:
        next(client.iter_clips(max_total=20_000))
    assert (caught.value.claimed, caught.value.limit) == (2**32 - 1, 20_000)
    assert recorder.pages_served == 1


def test_a_claim_the_pages_do_not_bear_out_is_a_protocol_error_not_an_endless_listing():
    recorder = _ClaimsFourBillion(MemoryBoard(clips=[_clip(i) for i in range(300)]))
    client = _connected(recorder.board, recorder)
    with pytest.raises(ProtocolError, match="listing stopped at clip 300 of 4294967295"):
        for _ in client.iter_clips():  # streamed: nothing holds the claimed four billion
            pass


def test_read_events_from_a_cursor_returns_the_rest_and_where_to_continue():
    events = [
        {"index": i, "utc_s": 1795940000 + i, "kind": 3, "reason": i % 8, "clip_path": f"x{i}"}
        for i in range(500)
    ]
    client = _connected(MemoryBoard(events=events))
    batch = client.read_events(120)
    assert [e.index for e in batch.events] == list(range(120, 500))
    assert (batch.next_cursor, batch.total) == (500, 500)
    assert batch.events[0].reason_name == messages.REASON_NAMES[120 % 8]
    assert client.read_events(batch.next_cursor).events == ()


def test_wrong_key_raises_authentication_failed_and_privileged_requests_stay_refused():
    board = MemoryBoard(key=KEY)
    client = _connected(board)
    with pytest.raises(AuthenticationFailed, match="rejected the dock's pairing key"):
        client.authenticate(bytes(32))
    with pytest.raises(Refused) as caught:
        client.set_mass_storage(True)
    assert caught.value.code == messages.ERR_NOT_AUTHENTICATED
    assert board.is_mass_storage_on() is False


def test_five_wrong_keys_lock_the_recorder_out_until_it_is_unplugged():
    board = MemoryBoard(key=KEY)
    recorder = Recorder(board)
    client = _connected(board, recorder)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed, match="rejected"):
            client.authenticate(bytes(32))
    with pytest.raises(AuthenticationFailed, match="locked out"):
        client.authenticate(KEY)
    recorder.on_usb_detached()
    client.hello()
    client.authenticate(KEY)


def test_a_recorder_that_cannot_prove_the_key_is_not_trusted():
    class ForgedProof:
        """Accepts any proof, like a recorder that does not hold the key would have to."""

        def __init__(self, recorder):
            self.recorder = recorder

        def receive(self, data):
            reply = self.recorder.receive(data)
            frame, _ = decode_frame(reply)
            if messages.BY_ID[frame.msg_id][1] == "Error" and data[5] == 0x03:
                return encode_frame(
                    frame.seq, *messages.encode("AuthAccepted", {"recorder_proof": bytes(32)})
                )
            return reply

        def on_line_idle(self):
            self.recorder.on_line_idle()

    client = RecorderClient(
        MemoryTransport(ForgedProof(Recorder(MemoryBoard(key=KEY)))), timeout_s=FAST_S
    )
    client.hello()
    with pytest.raises(AuthenticationFailed, match="did not prove"):
        client.authenticate(bytes(range(1, 33)))


def test_pairing_a_fresh_recorder_then_re_pairing_needs_the_old_key():
    board = MemoryBoard(key=None)
    client = _connected(board)
    client.pair(KEY)
    assert board.load_key() == KEY
    with pytest.raises(Refused) as caught:
        client.pair(bytes(32))
    assert caught.value.code == messages.ERR_ALREADY_PAIRED
    client.authenticate(KEY)
    client.pair(bytes(32))
    assert board.load_key() == bytes(32)


def test_delete_clip_with_a_wrong_hash_is_refused_and_the_clip_stays():
    clip = _clip(1)
    board = MemoryBoard(key=KEY, clips=[clip])
    client = _connected(board)
    client.authenticate(KEY)
    with pytest.raises(Refused) as caught:
        client.delete_clip(clip["path"], hashlib.sha256(b"other").digest())
    assert caught.value.code == messages.ERR_HASH_MISMATCH
    assert [c.path for c in client.list_clips()] == [clip["path"]]
    client.delete_clip(clip["path"], clip["sha256"])
    assert client.list_clips() == []
    assert board.deleted == [clip["path"]]


def test_mass_storage_switch_follows_the_request_and_shows_in_status():
    board = MemoryBoard(key=KEY)
    client = _connected(board)
    client.authenticate(KEY)
    client.set_mass_storage(True)
    assert client.status().is_mass_storage_on is True
    client.set_mass_storage(False)
    assert board.is_mass_storage_on() is False

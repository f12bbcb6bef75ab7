"""Rules of the reference firmware beyond the golden vectors: paging, faults, idle lines."""

import hashlib

from firmware_bridge import auth, messages
from firmware_bridge.firmware.memory_board import MemoryBoard
from firmware_bridge.firmware.recorder import Recorder
from firmware_bridge.framing import MAX_PAYLOAD, Frame, FrameReader, encode_frame

KEY = bytes(range(32))


def _clip(i, path_len=60):
    path = ("DCIM/20261123/" + "x" * path_len + "_%05d.MP4") % i
    return {
        "path": path,
        "start_utc_s": 1795940000 + i,
        "end_utc_s": 1795940060 + i,
        "size_bytes": 1000 + i,
        "sha256": hashlib.sha256(path.encode()).digest(),
        "is_important": i % 7 == 0,
        "place": "30.27,120.15",
    }


class Dock:
    """Just enough of a host to talk to a Recorder in memory."""

    def __init__(self, recorder):
        self.recorder = recorder
        self.seq = 0
        self.reader = FrameReader()
        self.largest_payload_bytes = 0

    def ask(self, name, values=None):
        self.seq = (self.seq + 1) % 256
        msg_id, payload = messages.encode(name, values or {})
        out = self.recorder.receive(encode_frame(self.seq, msg_id, payload))
        (frame,) = self.reader.feed(out)
        assert frame.seq == self.seq
        self.largest_payload_bytes = max(self.largest_payload_bytes, len(frame.payload))
        return messages.decode(frame.msg_id, frame.payload)

    def hello(self):
        return self.ask(
            "Hello",
            {"protocol_version": messages.PROTOCOL_VERSION, "table_hash": messages.TABLE_HASH},
        )

    def authenticate(self, key=KEY):
        dock_nonce = b"n" * 16
        challenge = self.ask("AuthBegin", {"dock_nonce": dock_nonce})
        proof = auth.dock_proof(key, challenge.recorder_nonce, dock_nonce, "ZFY00001")
        return self.ask("AuthProve", {"dock_proof": proof})


def test_clip_pages_fit_one_frame_and_list_every_clip_once_in_path_order():
    clips = [_clip(i) for i in range(500)]
    dock = Dock(Recorder(MemoryBoard(clips=list(reversed(clips)))))
    dock.hello()
    listed, pages = [], 0
    while True:
        page = dock.ask("ListClips", {"start_index": len(listed), "max_count": 65535})
        pages += 1
        assert page.total == 500
        if not page.clips:
            break
        listed.extend(page.clips)
    assert [c["path"] for c in listed] == sorted(c["path"] for c in clips)
    assert pages > 2  # the pages were cut by size, not by max_count
    assert MAX_PAYLOAD - 200 < dock.largest_payload_bytes <= MAX_PAYLOAD


def test_event_pages_fit_one_frame_and_continue_from_next_cursor():
    events = [
        {"index": i, "utc_s": 1795940000 + i, "kind": 3, "reason": 2, "clip_path": "y" * 100}
        for i in range(300)
    ]
    dock = Dock(Recorder(MemoryBoard(events=events)))
    dock.hello()
    cursor, got = 0, []
    while cursor < 300:
        page = dock.ask("ReadEvents", {"cursor": cursor, "max_count": 1000})
        assert page.events, "no progress"
        got.extend(page.events)
        cursor = page.next_cursor
    assert got == events


class BrokenCard(MemoryBoard):
    def list_clips(self):
        raise OSError(5, "EIO\nreading the FAT")


def test_board_failure_is_a_storage_fault_reply_on_one_line_not_an_exception():
    dock = Dock(Recorder(BrokenCard()))
    dock.hello()
    reply = dock.ask("ListClips", {"start_index": 0, "max_count": 10})
    assert reply.name == "Error"
    assert reply.code == messages.ERR_STORAGE_FAULT
    assert "\n" not in reply.detail and "OSError" in reply.detail


def test_partial_frame_is_dropped_when_the_line_goes_idle():
    recorder = Recorder(MemoryBoard())
    hello = encode_frame(
        1, *messages.encode("Hello", {"protocol_version": 1, "table_hash": messages.TABLE_HASH})
    )
    assert recorder.receive(hello[:5]) == b""
    assert recorder.has_partial_frame()
    recorder.on_line_idle()
    assert not recorder.has_partial_frame()
    # The rest of the cut frame is noise now, and the next whole frame is answered.
    assert recorder.receive(hello[5:]) == b""
    assert FrameReader().feed(recorder.receive(hello))[0].msg_id == 0x81


def test_a_frame_fed_byte_by_byte_is_answered_once():
    recorder = Recorder(MemoryBoard())
    hello = encode_frame(
        1, *messages.encode("Hello", {"protocol_version": 1, "table_hash": messages.TABLE_HASH})
    )
    out = b"".join(recorder.receive(hello[i : i + 1]) for i in range(len(hello)))
    assert len(FrameReader().feed(out)) == 1


def test_same_seq_with_other_content_is_a_new_request_not_a_retry():
    recorder = Recorder(MemoryBoard())
    dock = Dock(recorder)
    dock.hello()
    first = recorder.handle(Frame(9, 0x10, b""))
    second = recorder.handle(Frame(9, 0x11, b""))
    assert first.msg_id == 0x90 and second.msg_id == 0x91


def test_unplugging_switches_mass_storage_off_and_ends_authentication():
    board = MemoryBoard(key=KEY)
    dock = Dock(Recorder(board))
    dock.hello()
    assert dock.authenticate().name == "AuthAccepted"
    assert dock.ask("SetMassStorage", {"is_on": True}).name == "Ok"
    assert board.is_mass_storage_on()
    dock.recorder.on_usb_detached()
    assert not board.is_mass_storage_on()
    dock.hello()
    reply = dock.ask("SetMassStorage", {"is_on": True})
    assert reply.code == messages.ERR_NOT_AUTHENTICATED
    assert not board.is_mass_storage_on()


def test_clip_is_deleted_only_with_its_own_hash():
    clip = _clip(1)
    board = MemoryBoard(key=KEY, clips=[clip])
    dock = Dock(Recorder(board))
    dock.hello()
    dock.authenticate()
    wrong = dock.ask("DeleteClip", {"path": clip["path"], "sha256": bytes(32)})
    assert wrong.code == messages.ERR_HASH_MISMATCH and board.deleted == []
    right = dock.ask("DeleteClip", {"path": clip["path"], "sha256": clip["sha256"]})
    assert right.name == "Ok" and board.deleted == [clip["path"]]

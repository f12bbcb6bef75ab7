"""The simulator over a real pty: the firmware answers, and each fault does what it says.

These talk raw frames through pyserial on purpose: the host client is tested against the
simulator elsewhere; here the question is what bytes the simulated recorder puts on the line.
"""

import os
import time

import pytest
import serial

from firmware_bridge import auth, messages
from firmware_bridge.framing import Frame, FrameError, FrameReader, encode_frame
from firmware_bridge.sim import Faults, SimRecorder, generate_clips, make_storage
from firmware_bridge.sim.faults import LIED_SIZE_DELTA_BYTES

KEY = bytes(range(100, 132))
SERIAL = "ZFY00007"
HELLO = {"protocol_version": messages.PROTOCOL_VERSION, "table_hash": messages.TABLE_HASH}


class RawHost:
    """Frames over a pyserial port, with nothing clever: no retries unless a test asks."""

    def __init__(self, port_path):
        self.port = serial.Serial(port_path, timeout=0.05)
        self.reader = FrameReader()
        self.seq = 0
        self.errors = []
        self.received_bytes = 0
        self.is_disconnected = False

    def send(self, name, values=None, seq=None):
        if seq is None:
            self.seq = (self.seq + 1) % 256
            seq = self.seq
        self.port.write(encode_frame(seq, *messages.encode(name, values or {})))
        return seq

    def read_frames(self, timeout_s=1.0, want=1):
        frames, deadline = [], time.monotonic() + timeout_s
        while len(frames) < want and time.monotonic() < deadline:
            try:
                data = self.port.read(4096)
            except serial.SerialException:
                self.is_disconnected = True
                break
            self.received_bytes += len(data)
            for item in self.reader.feed(data):
                (frames if isinstance(item, Frame) else self.errors).append(item)
        return frames

    def ask(self, name, values=None, timeout_s=1.0):
        seq = self.send(name, values)
        frames = self.read_frames(timeout_s)
        assert frames, f"no reply to {name}"
        assert frames[0].seq == seq
        return messages.decode(frames[0].msg_id, frames[0].payload)

    def authenticate(self, key=KEY):
        dock_nonce = bytes(16)
        challenge = self.ask("AuthBegin", {"dock_nonce": dock_nonce})
        proof = auth.dock_proof(key, challenge.recorder_nonce, dock_nonce, SERIAL)
        return self.ask("AuthProve", {"dock_proof": proof})

    def close(self):
        self.port.close()


@pytest.fixture(scope="module")
def generated():
    return generate_clips(5, size_bytes=3000, seed=11)


def _sim(tmp_path, generated, kind="dir", **kwargs):
    clips, events = generated
    storage = make_storage(kind, tmp_path / f"card-{kind}", SERIAL, clips)
    return SimRecorder(storage, serial=SERIAL, key=KEY, clips=clips, events=events, **kwargs)


def test_simulator_answers_the_docking_conversation_from_the_firmware(tmp_path, generated):
    clips, events = generated
    with _sim(tmp_path, generated, battery_pct=34, clock_skew_s=7200) as sim:
        host = RawHost(sim.port)
        assert host.ask("Hello", HELLO).device_serial == SERIAL
        status = host.ask("GetStatus")
        assert status.battery_pct == 34
        assert abs(status.clock_utc_ms / 1000 - (time.time() + 7200)) < 60
        page = host.ask("ListClips", {"start_index": 0, "max_count": 100})
        assert [c["path"] for c in page.clips] == sorted(c.path for c in clips)
        assert {c["path"]: c["sha256"] for c in page.clips} == {c.path: c.sha256 for c in clips}
        assert host.ask("ReadEvents", {"cursor": 0, "max_count": 100}).events == events
        host.close()


@pytest.mark.parametrize(
    "kind",
    [
        "dir",
        "fat32",
        pytest.param(
            "exfat",
            marks=pytest.mark.skipif(os.geteuid() != 0, reason="exFAT images need root"),
        ),
    ],
)
def test_clip_deleted_through_the_protocol_is_gone_from_the_card(tmp_path, generated, kind):
    clips, _ = generated
    with _sim(tmp_path, generated, kind=kind) as sim:
        host = RawHost(sim.port)
        host.ask("Hello", HELLO)
        assert host.authenticate().name == "AuthAccepted"
        victim = clips[0]
        assert host.ask("DeleteClip", {"path": victim.path, "sha256": victim.sha256}).name == "Ok"
        host.close()
    left = [path for path, _ in type(sim.storage)(sim.storage.location, SERIAL).list_files()]
    assert victim.path not in left and len(left) == len(clips) - 1


def test_wrong_pairing_key_is_refused(tmp_path, generated):
    with _sim(tmp_path, generated) as sim:
        host = RawHost(sim.port)
        host.ask("Hello", HELLO)
        reply = host.authenticate(key=bytes(32))
        assert reply.name == "Error" and reply.code == messages.ERR_AUTH_FAILED
        assert host.ask("SetMassStorage", {"is_on": True}).code == messages.ERR_NOT_AUTHENTICATED
        assert not sim.board.is_mass_storage_on()
        host.close()


def test_lying_listing_reports_sizes_that_are_not_on_the_card(tmp_path, generated):
    with _sim(tmp_path, generated, faults=Faults(lie_about_sizes=True)) as sim:
        host = RawHost(sim.port)
        host.ask("Hello", HELLO)
        listed = host.ask("ListClips", {"start_index": 0, "max_count": 100}).clips
        real = dict(sim.storage.list_files())
        assert listed and all(
            c["size_bytes"] == real[c["path"]] + LIED_SIZE_DELTA_BYTES for c in listed
        )
        host.close()


def test_wrong_protocol_version_is_announced_in_hello(tmp_path, generated):
    with _sim(tmp_path, generated, faults=Faults(protocol_version=2)) as sim:
        host = RawHost(sim.port)
        assert host.ask("Hello", HELLO).protocol_version == 2
        host.close()


def test_ignored_request_is_answered_when_retried_with_the_same_seq(tmp_path, generated):
    with _sim(tmp_path, generated, faults=Faults(ignore_requests=1)) as sim:
        host = RawHost(sim.port)
        seq = host.send("Hello", HELLO)
        assert host.read_frames(timeout_s=0.3) == []
        host.send("Hello", HELLO, seq=seq)
        (reply,) = host.read_frames()
        assert reply.seq == seq and reply.msg_id == 0x81
        host.close()


def test_corrupted_frame_fails_its_crc_and_the_retry_gets_the_stored_reply(tmp_path, generated):
    with _sim(tmp_path, generated, faults=Faults(corrupt_frame_every=2)) as sim:
        host = RawHost(sim.port)
        host.ask("Hello", HELLO)
        seq = host.send("GetStatus")
        assert host.read_frames(timeout_s=0.3) == []
        assert any("CRC" in err.reason for err in host.errors if isinstance(err, FrameError))
        host.send("GetStatus", seq=seq)
        (reply,) = host.read_frames()
        assert reply.seq == seq and reply.msg_id == 0x91
        host.close()


def test_dropped_bytes_never_reach_the_host(tmp_path, generated):
    with _sim(tmp_path, generated, faults=Faults(drop_byte_every=5)) as sim:
        host = RawHost(sim.port)
        host.send("Hello", HELLO)
        assert host.read_frames(timeout_s=0.3) == []
        whole_reply_bytes = len(
            encode_frame(
                1,
                *messages.encode(
                    "HelloReply",
                    {
                        "protocol_version": 1,
                        "table_hash": messages.TABLE_HASH,
                        "device_serial": SERIAL,
                    },
                ),
            )
        )
        assert 0 < host.received_bytes < whole_reply_bytes
        host.close()


def test_slow_link_still_delivers_whole_frames(tmp_path, generated):
    with _sim(tmp_path, generated, faults=Faults(slow_link_bytes_per_s=2000)) as sim:
        host = RawHost(sim.port)
        host.ask("Hello", HELLO)
        page = host.ask("ListClips", {"start_index": 0, "max_count": 100}, timeout_s=5)
        assert page.total == len(generated[0])
        host.close()


def test_disconnect_mid_transfer_cuts_a_frame_and_ends_the_insertion(tmp_path, generated):
    with _sim(tmp_path, generated, faults=Faults(disconnect_after_frames=3)) as sim:
        host = RawHost(sim.port)
        host.ask("Hello", HELLO)
        assert host.authenticate().name == "AuthAccepted"
        host.send("ListClips", {"start_index": 0, "max_count": 100})
        assert host.read_frames(timeout_s=1.0) == []
        assert host.reader.has_partial() and host.is_disconnected
        deadline = time.monotonic() + 2
        while sim.is_plugged and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not sim.is_plugged
        host.close()


def test_unplug_and_plug_give_a_new_port_and_a_new_insertion(tmp_path, generated):
    with _sim(tmp_path, generated) as sim:
        host = RawHost(sim.port)
        host.ask("Hello", HELLO)
        host.authenticate()
        assert host.ask("SetMassStorage", {"is_on": True}).name == "Ok"
        host.close()
        sim.unplug()
        assert not sim.board.is_mass_storage_on()
        host = RawHost(sim.plug())
        assert host.ask("GetStatus").code == messages.ERR_HELLO_FIRST
        host.close()


def test_cut_request_is_dropped_after_the_line_goes_quiet(tmp_path, generated):
    with _sim(tmp_path, generated) as sim:
        host = RawHost(sim.port)
        hello = encode_frame(1, *messages.encode("Hello", HELLO))
        host.port.write(hello[:7])
        time.sleep(0.4)  # longer than FRAME_IDLE_MS: the recorder forgets the half frame
        host.port.write(hello)
        (reply,) = host.read_frames()
        assert reply.msg_id == 0x81
        host.close()

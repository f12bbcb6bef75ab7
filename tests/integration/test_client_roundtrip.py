"""RecorderClient against the simulator over a real pty: the docking conversation end to end.

The simulator runs the real firmware; the client opens the pty with pyserial as it opens a
recorder's /dev/ttyACM* on the Pi. Nothing here is mocked.
"""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from firmware_bridge import messages
from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import AuthenticationFailed, ProtocolMismatch, Refused
from firmware_bridge.sim import Faults, generate_clips
from firmware_bridge.sim.recorder import directory_recorder
from firmware_bridge.transport import TransportClosed

KEY = bytes(range(32))
IDENTITY = {
    "officer_number": "0451",
    "officer_name": "张伟",
    "unit_number": "330100",
    "unit_name": "杭州市城管局",
}


@pytest.fixture
def clips_and_events():
    return generate_clips(12, size_bytes=2048, seed=7)


@pytest.fixture
def sim(tmp_path, clips_and_events):
    clips, events = clips_and_events
    recorder = directory_recorder(
        tmp_path / "card", clips, key=KEY, identity=IDENTITY, events=events, battery_pct=77
    )
    with recorder:
        yield recorder


@pytest.fixture
def client(sim):
    with RecorderClient.open(sim.port) as client:
        client.hello()
        yield client


def test_hello_identify_and_status_over_a_pty_report_the_recorder_as_it_is(sim, client):
    identity = client.identify()
    assert identity.device_serial == "ZFY00001"
    assert identity.protocol_version == messages.PROTOCOL_VERSION
    assert identity.is_paired is True
    assert (identity.officer_number, identity.unit_name) == ("0451", "杭州市城管局")
    status = client.status()
    assert status.battery_pct == 77
    assert status.storage_total_bytes == sim.board.total_bytes()
    assert status.is_mass_storage_on is False
    assert status.clock_utc.tzinfo is UTC


def test_list_clips_pages_through_300_clips_with_their_hashes(tmp_path):
    clips, _ = generate_clips(300, size_bytes=128, seed=3, interruption_every=0)
    with directory_recorder(tmp_path / "card", clips) as sim, RecorderClient.open(sim.port) as c:
        c.hello()
        listed = c.list_clips()
        pages = c.stats.requests - 1
    assert pages > 1
    assert [clip.path for clip in listed] == sorted(clip.path for clip in clips)
    by_path = {clip.path: clip for clip in clips}
    for clip in listed:
        assert (clip.sha256, clip.size_bytes) == (
            by_path[clip.path].sha256,
            by_path[clip.path].size_bytes,
        )
        assert clip.start_utc == datetime.fromtimestamp(by_path[clip.path].start_utc_s, UTC)


def test_events_are_read_from_a_cursor_to_the_end_of_the_log(client, clips_and_events):
    _, events = clips_and_events
    batch = client.read_events(0)
    assert [e.index for e in batch.events] == [e["index"] for e in events]
    assert [(e.kind, e.reason) for e in batch.events] == [(e["kind"], e["reason"]) for e in events]
    assert batch.next_cursor == len(events)
    tail = client.read_events(len(events) - 2)
    assert tail.events == batch.events[-2:]


def test_set_clock_after_authentication_reads_back_as_set(client):
    client.authenticate(KEY)
    moment = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    client.set_clock(moment)
    read_back = client.status().clock_utc
    assert moment <= read_back < moment + timedelta(minutes=1)


def test_privileged_requests_without_authentication_are_refused(sim, client):
    with pytest.raises(Refused) as caught:
        client.set_mass_storage(True)
    assert caught.value.code == messages.ERR_NOT_AUTHENTICATED
    with pytest.raises(Refused) as caught:
        client.set_clock(datetime(2031, 1, 1, tzinfo=UTC))
    assert caught.value.code == messages.ERR_NOT_AUTHENTICATED
    assert sim.board.is_mass_storage_on() is False


def test_wrong_pairing_key_raises_authentication_failed_and_unlocks_nothing(sim, client):
    with pytest.raises(AuthenticationFailed, match="ZFY00001"):
        client.authenticate(bytes(32))
    with pytest.raises(Refused):
        client.set_mass_storage(True)
    assert sim.board.is_mass_storage_on() is False


def test_recorder_on_another_protocol_version_is_refused_naming_both(tmp_path):
    old = messages.PROTOCOL_VERSION - 1
    recorder = directory_recorder(tmp_path / "card", [], faults=Faults(protocol_version=old))
    with (
        recorder as sim,
        RecorderClient.open(sim.port) as client,
        pytest.raises(ProtocolMismatch) as caught,
    ):
        client.hello()
    assert f"speaks protocol v{old}" in str(caught.value)
    assert f"this dock speaks v{messages.PROTOCOL_VERSION}" in str(caught.value)


def test_delete_with_a_wrong_hash_keeps_the_clip_and_with_the_right_hash_removes_it(
    sim, client, clips_and_events
):
    clips, _ = clips_and_events
    clip = clips[0]
    on_card = sim.storage.location / clip.path
    client.authenticate(KEY)
    with pytest.raises(Refused) as caught:
        client.delete_clip(clip.path, hashlib.sha256(b"not the clip").digest())
    assert caught.value.code == messages.ERR_HASH_MISMATCH
    assert on_card.exists()
    assert clip.path in {c.path for c in client.list_clips()}
    client.delete_clip(clip.path, clip.sha256)
    assert not on_card.exists()
    assert clip.path not in {c.path for c in client.list_clips()}


def test_mass_storage_unlock_lasts_one_insertion(sim, client):
    client.authenticate(KEY)
    client.set_mass_storage(True)
    assert client.status().is_mass_storage_on is True
    client.close()
    sim.unplug()
    new_port = sim.plug()
    with RecorderClient.open(new_port) as again:
        again.hello()
        assert again.status().is_mass_storage_on is False
        with pytest.raises(Refused) as caught:
            again.set_mass_storage(True)  # the old authentication ended with the insertion
        assert caught.value.code == messages.ERR_NOT_AUTHENTICATED


def test_write_identity_is_read_back_by_identify(client):
    client.authenticate(KEY)
    client.write_identity(
        officer_number="1024", officer_name="李娜", unit_number="330200", unit_name="统计局"
    )
    identity = client.identify()
    assert (identity.officer_number, identity.officer_name) == ("1024", "李娜")
    assert (identity.unit_number, identity.unit_name) == ("330200", "统计局")


def test_a_second_client_cannot_open_a_recorder_port_already_in_use(sim, client):
    with pytest.raises(TransportClosed, match="no other program holds the port"):
        RecorderClient.open(sim.port)
    assert client.status().battery_pct == 77, "the first client keeps its conversation"


def test_a_port_that_vanished_is_a_transport_error_naming_it(sim, client):
    sim.unplug()
    with pytest.raises(TransportClosed, match="went away"):
        client.status()

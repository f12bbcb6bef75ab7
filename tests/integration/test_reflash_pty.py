"""Reflash over a real pty with the simulator: the recorder runs the real update firmware."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dock.reflash.transfer import send_image
from firmware_bridge import messages
from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import RecorderError, Refused
from firmware_bridge.image import DEV_KEY_PATH, Image, build_image, load_private_key
from firmware_bridge.sim import Faults
from firmware_bridge.sim.recorder import directory_recorder

KEY = bytes(range(32))
PAYLOAD = bytes(i % 251 for i in range(50_000))


def _image(version="1.1.0", key=None, payload=PAYLOAD) -> Image:
    return build_image(
        payload,
        model="ZFY-SIM",
        version=version,
        min_version="1.0.0",
        key=key or load_private_key(DEV_KEY_PATH),
    )


@pytest.fixture
def recorder(tmp_path):
    def make(**faults):
        return directory_recorder(tmp_path / "card", [], key=KEY, faults=Faults(**faults))

    return make


def _session(port):
    client = RecorderClient.open(port, timeout_s=2.0)
    client.hello()
    client.authenticate(KEY)
    return client


def test_signed_image_is_confirmed_after_its_test_boot(recorder):
    with recorder() as sim, _session(sim.port) as client:
        transfer = send_image(client, _image())
        assert transfer.state.pending_version == "1.1.0"
        client.hello()
        client.authenticate(KEY)
        state = client.firmware_status()
        assert (state.running_version, state.last_result) == ("1.1.0", messages.FIRMWARE_CONFIRMED)
        assert client.identify().firmware_version == "1.1.0"


@pytest.mark.parametrize("part", ["payload", "manifest", "signature"])
def test_image_with_one_flipped_byte_is_refused(recorder, part):
    good = _image()
    fields = {
        "manifest_bytes": good.manifest_bytes,
        "signature": good.signature,
        "payload": good.payload,
    }
    name = {"payload": "payload", "manifest": "manifest_bytes", "signature": "signature"}[part]
    raw = bytearray(fields[name])
    raw[len(raw) // 2] ^= 0x01
    fields[name] = bytes(raw)
    with recorder() as sim, _session(sim.port) as client:
        with pytest.raises(Refused) as refused:
            send_image(client, Image(**fields))
        expected = messages.ERR_HASH_MISMATCH if part == "payload" else messages.ERR_BAD_SIGNATURE
        assert refused.value.code == expected
        assert client.firmware_status().running_version == "1.0.0"


def test_image_signed_by_an_unknown_key_is_refused(recorder):
    with recorder() as sim, _session(sim.port) as client:
        with pytest.raises(Refused) as refused:
            send_image(client, _image(key=Ed25519PrivateKey.generate()))
        assert refused.value.code == messages.ERR_BAD_SIGNATURE


def test_downgrade_is_refused_by_the_recorder_unless_allowed(recorder):
    with recorder() as sim, _session(sim.port) as client:
        with pytest.raises(Refused) as refused:
            send_image(client, _image(version="0.9.0"))
        assert refused.value.code == messages.ERR_DOWNGRADE


def test_unplugged_transfer_resumes_from_the_recorders_offset_not_zero(recorder):
    with recorder(disconnect_after_frames=6) as sim:
        with _session(sim.port) as client, pytest.raises(RecorderError):
            send_image(client, _image())
        held = sim.board.slot_size(1)
        assert held > 0
        sim.faults = Faults()
        port = sim.plug()
        with _session(port) as client:
            transfer = send_image(client, _image())
        assert transfer.resumed_from_bytes == held
        assert transfer.sent_bytes == len(PAYLOAD) - held


def test_firmware_failing_its_self_test_is_rolled_back_to_the_old_slot(recorder):
    with recorder(failing_self_test_version="1.1.0") as sim, _session(sim.port) as client:
        send_image(client, _image())
        client.hello()
        client.authenticate(KEY)
        state = client.firmware_status()
        assert (state.running_version, state.last_result, state.last_version) == (
            "1.0.0",
            messages.FIRMWARE_ROLLED_BACK,
            "1.1.0",
        )

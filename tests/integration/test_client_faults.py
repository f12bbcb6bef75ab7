"""Each fault of the simulated recorder, over a real pty: the client recovers by retrying or
fails with a LinkError subclass, never another exception and never a hang (pytest-timeout
would catch one; every wait in the link is bounded)."""

import pytest

from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import LinkError, LinkTimeout
from firmware_bridge.sim import Faults, generate_clips
from firmware_bridge.sim.faults import LIED_SIZE_DELTA_BYTES
from firmware_bridge.sim.recorder import directory_recorder
from firmware_bridge.transport import TransportClosed

TIMEOUT_S = 0.2  # short, so the retries these faults cause keep the suite fast


@pytest.fixture
def clips():
    clips, _ = generate_clips(60, size_bytes=256, seed=11, interruption_every=0)
    return clips


def _outcomes(client, count):
    """Status `count` times: each is a Status or a LinkError, never anything else."""
    outcomes = []
    for _ in range(count):
        try:
            outcomes.append(client.status())
        except LinkError as err:
            outcomes.append(err)
    return outcomes


def test_slow_link_still_lists_every_clip(tmp_path, clips):
    faults = Faults(slow_link_bytes_per_s=20_000)
    with (
        directory_recorder(tmp_path / "card", clips, faults=faults) as sim,
        RecorderClient.open(sim.port, timeout_s=TIMEOUT_S) as client,
    ):
        client.hello()
        listed = client.list_clips()
    assert sorted(c.path for c in listed) == sorted(c.path for c in clips)
    assert client.stats.frame_errors == 0


def test_corrupted_frames_are_rejected_and_recovered_by_retries(tmp_path, clips):
    faults = Faults(corrupt_frame_every=3)
    with (
        directory_recorder(tmp_path / "card", clips, faults=faults) as sim,
        RecorderClient.open(sim.port, timeout_s=TIMEOUT_S) as client,
    ):
        client.hello()
        outcomes = _outcomes(client, 12)
        listed = client.list_clips()
    assert all(not isinstance(o, Exception) for o in outcomes)
    assert client.stats.frame_errors >= 4
    assert client.stats.retries >= 4
    assert sorted(c.path for c in listed) == sorted(c.path for c in clips)


@pytest.mark.parametrize(
    "faults",
    [Faults(drop_byte_every=97), Faults(corrupt_byte_every=89)],
    ids=["dropped-bytes", "corrupted-bytes"],
)
def test_damaged_bytes_give_answers_or_clean_link_errors(tmp_path, clips, faults):
    with (
        directory_recorder(tmp_path / "card", clips, faults=faults) as sim,
        RecorderClient.open(sim.port, timeout_s=TIMEOUT_S) as client,
    ):
        try:
            client.hello()
        except LinkError:
            client.hello()  # a damaged first reply may exhaust the retries; a second try
        outcomes = _outcomes(client, 15)
    answered = [o for o in outcomes if not isinstance(o, Exception)]
    assert answered, "most requests get through a line that damages 1 byte in ~90"
    assert all(o.battery_pct == 90 for o in answered)
    assert client.stats.frame_errors + client.stats.cut_frames > 0


def test_requests_the_recorder_ignores_are_retried_with_the_same_frame(tmp_path, clips):
    faults = Faults(ignore_requests=2)
    with (
        directory_recorder(tmp_path / "card", clips, faults=faults) as sim,
        RecorderClient.open(sim.port, timeout_s=TIMEOUT_S) as client,
    ):
        assert client.hello().device_serial == "ZFY00001"
        assert client.stats.retries == 2
        assert sim.requests_seen == 3


def test_silent_recorder_raises_link_timeout_after_bounded_retries(tmp_path, clips):
    faults = Faults(ignore_requests=10)
    with (
        directory_recorder(tmp_path / "card", clips, faults=faults) as sim,
        RecorderClient.open(sim.port, timeout_s=TIMEOUT_S, retries=2) as client,
    ):
        with pytest.raises(LinkTimeout, match="did not answer Hello"):
            client.hello()
        assert sim.requests_seen == 3


def test_disconnect_mid_transfer_is_a_clean_link_error(tmp_path, clips):
    faults = Faults(disconnect_after_frames=2)
    with (
        directory_recorder(tmp_path / "card", clips, faults=faults) as sim,
        RecorderClient.open(sim.port, timeout_s=TIMEOUT_S) as client,
    ):
        client.hello()
        client.identify()
        with pytest.raises(LinkError) as caught:
            client.list_clips()
        assert not sim.is_plugged
    assert isinstance(caught.value, TransportClosed | LinkTimeout)


def test_a_listing_that_lies_about_sizes_is_reported_as_listed(tmp_path, clips):
    faults = Faults(lie_about_sizes=True)
    with (
        directory_recorder(tmp_path / "card", clips, faults=faults) as sim,
        RecorderClient.open(sim.port, timeout_s=TIMEOUT_S) as client,
    ):
        client.hello()
        listed = {c.path: c.size_bytes for c in client.list_clips()}
    on_card = {c.path: (tmp_path / "card" / c.path).stat().st_size for c in clips}
    assert listed == {path: size + LIED_SIZE_DELTA_BYTES for path, size in on_card.items()}

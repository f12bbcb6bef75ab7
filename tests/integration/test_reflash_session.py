"""A reflash as journaled steps over a real pty and the simulator: the rows a court or an
auditor reads afterwards, and the bay going REFLASHING then back to identifying."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dock import journal
from dock.bays.machine import BayMachine
from dock.bays.states import BayState, Trigger
from dock.clock import FixedClock
from dock.db import open_database
from dock.events import EventBus
from dock.reflash.session import DowngradeRefused, Reflash, ReflashError
from firmware_bridge.client import MAX_CHUNK_BYTES, RecorderClient
from firmware_bridge.image import DEV_KEY_PATH, Image, build_image, load_private_key
from firmware_bridge.sim import Faults
from firmware_bridge.sim.recorder import directory_recorder

KEY = bytes(range(32))
PAYLOAD = bytes(i % 251 for i in range(50_000))


def signed_image(version: str = "1.1.0") -> Image:
    return build_image(
        PAYLOAD,
        model="ZFY-SIM",
        version=version,
        min_version="1.0.0",
        key=load_private_key(DEV_KEY_PATH),
    )


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "data", EventBus())
    yield database
    database.close()


@pytest.fixture
def reflash(db):
    return Reflash(db, FixedClock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC)), technician="tom")


@pytest.fixture
def ready_bay(db, reflash):
    bay = BayMachine(1, db, reflash.clock)
    bay.move(Trigger.DOCKED, device="ZFY00001")
    bay.move(Trigger.IDENTIFIED)
    bay.move(Trigger.CHECK_PASSED)
    return bay


def rows(db, prefix: str = "") -> list[journal.JournalEntry]:
    with db.transaction() as session:
        found = journal.read_after(session, 0, 10_000)
    return [r for r in found if r.type.startswith(prefix)]


def states(db) -> list[tuple[str, str]]:
    return [(r.data["to_state"], r.data["reason"]) for r in rows(db, "bay.state")]


def run(reflash, sim, image, bay=None, **kwargs):
    return reflash.run(
        lambda: RecorderClient.open(sim.port, timeout_s=2.0),
        lambda serial: KEY,
        image,
        bay=bay,
        **kwargs,
    )


def test_a_confirmed_reflash_journals_start_progress_finish_and_the_bay_goes_back_to_identify(
    tmp_path, db, reflash, ready_bay
):
    with directory_recorder(tmp_path / "card", [], key=KEY) as sim:
        outcome = run(reflash, sim, signed_image(), bay=ready_bay)
    assert outcome.is_confirmed and outcome.running_version == "1.1.0"
    reflash_rows = rows(db, "reflash.")
    assert [r.type for r in reflash_rows] == [
        "reflash.started",
        "reflash.progress",
        "reflash.finished",
    ]
    started, progress, finished = (r.data for r in reflash_rows)
    assert (started["technician"], started["from_version"], started["to_version"]) == (
        "tom",
        "1.0.0",
        "1.1.0",
    )
    assert started["resumed_from_bytes"] == 0
    assert started["image_sha256"] == signed_image().sha256.hex()
    assert (progress["done_bytes"], progress["total_bytes"]) == (len(PAYLOAD), len(PAYLOAD))
    assert (finished["result"], finished["running_version"]) == ("confirmed", "1.1.0")
    assert all(r.actor == "tom" and r.bay == 1 and r.device == "ZFY00001" for r in reflash_rows)
    assert states(db)[-2:] == [
        ("reflashing", "reflash 1.1.0"),
        ("identifying", "firmware 1.1.0 confirmed"),
    ]
    assert ready_bay.state is BayState.IDENTIFYING


def test_a_firmware_failing_its_self_test_is_journaled_rolled_back_and_the_bay_says_so(
    tmp_path, db, reflash, ready_bay
):
    faults = Faults(failing_self_test_version="1.1.0")
    with directory_recorder(tmp_path / "card", [], key=KEY, faults=faults) as sim:
        outcome = run(reflash, sim, signed_image(), bay=ready_bay)
    assert (outcome.result, outcome.running_version) == ("rolled back", "1.0.0")
    finished = rows(db, "reflash.finished")[-1].data
    assert (finished["result"], finished["running_version"]) == ("rolled back", "1.0.0")
    assert states(db)[-1] == (
        "identifying",
        "firmware 1.1.0 failed its self-test: rolled back to 1.0.0",
    )


def test_a_downgrade_without_a_second_person_is_refused_and_journaled_before_any_byte(
    tmp_path, db, reflash, ready_bay
):
    with directory_recorder(tmp_path / "card", [], key=KEY) as sim:
        with pytest.raises(DowngradeRefused, match="--approved-by"):
            run(reflash, sim, signed_image("0.9.0"), bay=ready_bay)
        with pytest.raises(DowngradeRefused):  # approving one's own downgrade is no approval
            run(reflash, sim, signed_image("0.9.0"), bay=ready_bay, downgrade_approved_by="tom")
        assert sim.board.slot_size(1) == 0
    stopped = [r.data for r in rows(db, "reflash.")]
    assert [s["done_bytes"] for s in stopped] == [0, 0]
    assert all("早于当前运行的 1.0.0" in s["reason"] for s in stopped)
    assert ready_bay.state is BayState.READY  # nothing started: the bay never left READY


def test_an_approved_downgrade_journals_both_names_and_is_sent(tmp_path, db, reflash, ready_bay):
    with directory_recorder(tmp_path / "card", [], key=KEY) as sim:
        outcome = run(
            reflash, sim, signed_image("0.9.0"), bay=ready_bay, downgrade_approved_by="lee"
        )
    assert outcome.running_version == "0.9.0"
    approved = rows(db, "reflash.downgrade_approved")[0].data
    assert (approved["forced_by"], approved["approved_by"]) == ("tom", "lee")
    assert (approved["from_version"], approved["to_version"]) == ("1.0.0", "0.9.0")


def test_a_lost_link_journals_what_the_recorder_holds_and_the_next_try_resumes_there(
    tmp_path, db, reflash
):
    with directory_recorder(
        tmp_path / "card", [], key=KEY, faults=Faults(disconnect_after_frames=6)
    ) as sim:
        with pytest.raises(ReflashError, match="传输将从该处继续"):
            run(reflash, sim, signed_image())
        held = sim.board.slot_size(1)
        sim.faults = Faults()
        sim.plug()
        outcome = run(reflash, sim, signed_image())
    # The journal says what the recorder confirmed; a chunk whose answer was lost is held
    # too, and the recorder's offset, not the journal, decides where the next try starts.
    confirmed = rows(db, "reflash.stopped")[0].data["done_bytes"]
    assert 0 < confirmed <= held <= confirmed + MAX_CHUNK_BYTES
    assert rows(db, "reflash.started")[-1].data["resumed_from_bytes"] == held
    assert outcome.resumed_from_bytes == held
    assert outcome.sent_bytes == len(PAYLOAD) - held

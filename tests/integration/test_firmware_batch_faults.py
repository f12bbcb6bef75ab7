"""The batch update in a whole dock (the DockService as `dock serve` builds it, simulated
recorders on real ptys) with recorders that go wrong: one whose new firmware fails its
self-test is reported failed and rolled back, one of another model than the ledger says
refuses the image, and neither stops the bay after them."""

from __future__ import annotations

from dock import journal
from dock.bays.states import BayState
from dock.people.accounts import authenticate
from dock.reflash.batch import update_all
from dock.reflash.staging import Staging
from firmware_bridge.image import DEV_KEY_PATH, build_image, dev_public_key, load_private_key
from firmware_bridge.sim.faults import Faults
from tests.integration.conftest import CLOCK
from tests.integration.people_setup import PASSWORD, add_team

STAFF = {"admin": ["administrator"], "tom": ["technician"]}


def test_a_failing_self_test_and_a_refusal_are_reported_and_the_batch_goes_on(make_dock):
    dock = make_dock(bays=4)
    recorders = [
        dock.recorder("ZFY00001", clip_count=1),
        dock.recorder("ZFY00002", clip_count=1, faults=Faults(failing_self_test_version="1.1.0")),
        dock.recorder("ZFY00003", clip_count=1, model="ZFY-OTHER"),  # the ledger: ZFY-SIM
        dock.recorder("ZFY00004", clip_count=1),
    ]
    with dock.db.transaction() as session:
        add_team(session, STAFF, CLOCK)
    technician = authenticate(dock.db, "tom", PASSWORD, limits=dock.settings.people, clock=CLOCK)
    image = dock.tmp_path / "firmware-1.1.0.img"
    image.write_bytes(
        build_image(
            b"1.1.0" * 2_000,
            model="ZFY-SIM",
            version="1.1.0",
            min_version="1.0.0",
            key=load_private_key(DEV_KEY_PATH),
        ).to_bytes()
    )
    staging = Staging(dock.settings.dock.data_dir, (dev_public_key(),))
    staging.stage(image, technician=technician, db=dock.db, clock=CLOCK)
    dock.start()
    for bay, recorder in enumerate(recorders, start=1):
        dock.plug(recorder, bay)
    for _ in recorders:
        dock.next_result()
    assert dock.service is not None

    results = update_all(dock.service, staging, technician)

    assert [(r.bay, r.serial, r.outcome) for r in results] == [
        (1, "ZFY00001", "succeeded"),
        (2, "ZFY00002", "failed"),
        (3, "ZFY00003", "refused"),
        (4, "ZFY00004", "succeeded"),
    ]
    assert results[1].reason == "自检失败：已回滚到 1.0.0"
    assert "image is for another model" in results[2].reason
    assert all((r.from_version, r.to_version) == ("1.0.0", "1.1.0") for r in results)
    # The refused recorder keeps its firmware and the docking goes on with its check (not
    # left identifying): checked again, it is ready as before.
    assert dock.wait_for_state(3, BayState.READY).device_serial == "ZFY00003"
    with dock.db.transaction() as session:
        rows = journal.read_after(session, 0, 100_000)
    [finished] = [r for r in rows if r.type == "reflash.batch_finished"]
    assert finished.data == {"succeeded": 2, "refused": 1, "failed": 1, "skipped": 0}
    assert [r.data["outcome"] for r in rows if r.type == "reflash.batch_result"] == [
        "succeeded",
        "failed",
        "refused",
        "succeeded",
    ]

"""Under "after_central_copy" a clip leaves the recorder only once its central copy is
confirmed: the stored copy alone is not enough."""

from __future__ import annotations

from tests.integration.test_offload import card_contents, dock_and_wait, journal_entries
from tests.servers.seaweed import seaweed  # noqa: F401 (fixture)


def test_clip_is_not_deleted_from_recorder_before_its_central_copy_is_confirmed(make_dock):
    dock = make_dock(offload={"delete_policy": "after_central_copy"})
    recorder = dock.recorder("ZFY30001", clip_count=3)
    originals = card_contents(recorder)
    dock.start()
    dock_and_wait(dock, recorder)
    assert card_contents(recorder) == originals
    assert journal_entries(dock, "clip.stored")
    assert journal_entries(dock, "clip.delete_requested") == []
    assert journal_entries(dock, "clip.deleted_from_recorder") == []


def confirm_central_copies(dock, server, names):
    """Put the stored objects into a real weed mini and record each confirmed copy."""
    from datetime import UTC, datetime, timedelta

    from dock.replication import records
    from tests.integration.test_fixity_central_repair import central_of

    central = central_of(server)
    until = datetime.now(UTC) + timedelta(days=1)
    for name in names:
        path = dock.store.path_of(name)
        central.put(name, path, {}, until)
        found = central.head(name)
        assert found is not None
        with dock.db.transaction() as session:
            records.queue(session, name, path.stat().st_size, datetime.now(UTC))
            assert records.confirm(session, found, server.endpoint_url, datetime.now(UTC))


def test_a_copy_confirmed_after_the_recorder_left_frees_the_clip_at_its_next_docking(
    make_dock,
    seaweed,  # noqa: F811
):
    from dock.bays.states import BayState

    dock = make_dock(offload={"delete_policy": "after_central_copy"})
    recorder = dock.recorder("ZFY30002", clip_count=3)
    originals = card_contents(recorder)
    dock.start()
    dock_and_wait(dock, recorder)
    assert card_contents(recorder) == originals
    dock.unplug(recorder, 1)
    dock.wait_for_state(1, BayState.EMPTY)
    confirm_central_copies(dock, seaweed, set(originals.values()))
    dock_and_wait(dock, recorder)
    deleted = {e.data["sha256"] for e in journal_entries(dock, "clip.deleted_from_recorder")}
    requested = {e.data["sha256"] for e in journal_entries(dock, "clip.delete_requested")}
    assert deleted and deleted == requested
    assert deleted <= set(originals.values())
    assert not set(card_contents(recorder).values()) & deleted

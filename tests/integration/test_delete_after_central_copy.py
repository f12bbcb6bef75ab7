"""Under "after_central_copy" a clip leaves the recorder only once its central copy is
confirmed: the stored copy alone is not enough."""

from __future__ import annotations

from dock.clock import SystemClock
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
    return central


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


def replicator_of(dock, server):
    """The real replicator over a fresh bucket of the real weed mini, at full speed."""
    from dataclasses import replace

    from dock.config import CentralSettings
    from dock.replication.replicator import Replicator
    from tests.integration.test_fixity_central_repair import central_of

    central = central_of(server)
    settings = replace(CentralSettings(), endpoint_url=server.endpoint_url, bucket=central.bucket)
    return Replicator(
        dock.db,
        dock.store,
        central,
        settings,
        SystemClock(),
        dock.settings.dock.data_dir,
        dock_id=dock.settings.dock.dock_id,
    )


def test_a_copy_confirmed_before_the_offload_ends_frees_the_clip_at_the_same_docking(
    make_dock,
    seaweed,  # noqa: F811
):
    from dock.events import ClipStored

    dock = make_dock(offload={"delete_policy": "after_central_copy"})
    replicator = replicator_of(dock, seaweed)
    confirmed: list[int] = []

    def replicate_at_once(happened):
        # Each clip is copied and confirmed right after its row commits, while the walk
        # goes on: every copy is confirmed before the offload ends.
        if isinstance(happened, ClipStored):
            confirmed.append(replicator.run_once())

    dock.db.bus.subscribe(replicate_at_once)
    recorder = dock.recorder("ZFY30003", clip_count=3)
    originals = card_contents(recorder)
    dock.start()
    result = dock_and_wait(dock, recorder)
    assert sum(confirmed) == len(set(originals.values()))
    replicated = {e.data["sha256"] for e in journal_entries(dock, "clip.replicated")}
    deleted = {e.data["sha256"] for e in journal_entries(dock, "clip.deleted_from_recorder")}
    assert deleted == set(originals.values()) and deleted <= replicated
    assert result.offload.waiting_for_copy == 0
    assert not set(card_contents(recorder).values()) & deleted
    stored_first = [e.id for e in journal_entries(dock, "clip.replicated")]
    freed_after = [e.id for e in journal_entries(dock, "clip.delete_requested")]
    assert max(stored_first) < min(freed_after)  # never freed before its copy was confirmed


def test_a_small_card_is_not_ready_waiting_for_copies_then_ready_once_they_are_freed(
    make_dock,
    seaweed,  # noqa: F811
):
    from dock.bays.states import BayState

    dock = make_dock(offload={"delete_policy": "after_central_copy"})
    recorder = dock.recorder("ZFY30004", clip_count=3, clip_bytes=200_000)
    originals = card_contents(recorder)
    used = sum(size for _, size in recorder.storage.list_files())
    need = dock.settings.check.bitrate_mbps * 1e6 / 8 * dock.settings.check.shift_hours * 3600
    recorder.storage.capacity_bytes = used + int(need) // 2  # only the clips would free room
    dock.start()
    kept = dock_and_wait(dock, recorder)
    assert kept.state is BayState.ATTENTION  # NOT READY, with its reasons
    assert [r.code for r in kept.verdict.reasons] == ["storage_waiting_for_copy"]
    assert kept.offload.waiting_for_copy == len(originals)
    assert card_contents(recorder) == originals
    dock.unplug(recorder, 1)
    dock.wait_for_state(1, BayState.EMPTY)
    assert replicator_of(dock, seaweed).run_once() == len(set(originals.values()))
    freed = dock_and_wait(dock, recorder)
    assert freed.state is BayState.READY, freed.verdict
    assert card_contents(recorder) == {}

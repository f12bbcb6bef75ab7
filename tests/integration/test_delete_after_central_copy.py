"""Under "after_central_copy" a clip leaves the recorder only once its central copy is
confirmed: the stored copy alone is not enough."""

from __future__ import annotations

from tests.integration.test_offload import card_contents, dock_and_wait, journal_entries


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

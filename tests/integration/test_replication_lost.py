"""A confirmed copy the store no longer holds frees nothing: HEAD is asked again before a delete."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from dock.bays.states import BayState
from dock.db.models import Replica
from tests.integration.test_delete_after_central_copy import confirm_central_copies
from tests.integration.test_offload import card_contents, dock_and_wait, journal_entries
from tests.servers.seaweed import SECRET_KEY, SeaweedServer, seaweed  # noqa: F401


def test_a_copy_lost_from_the_store_since_its_confirmation_is_not_counted_before_a_delete(
    make_dock,
    tmp_path: Path,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    secret = tmp_path / "central.secret"
    secret.write_text(SECRET_KEY, encoding="utf-8")
    configured = seaweed.new_bucket()  # the bucket the dock now points at: it holds nothing
    dock = make_dock(
        offload={"delete_policy": "after_central_copy"},
        central={
            "endpoint_url": seaweed.endpoint_url,
            "bucket": configured,
            "access_key_id": seaweed.access_key_id,
            "secret_access_key_file": str(secret),
        },
    )
    recorder = dock.recorder("ZFY30009", clip_count=2)
    originals = card_contents(recorder)
    dock.start()
    dock_and_wait(dock, recorder)
    dock.unplug(recorder, 1)
    dock.wait_for_state(1, BayState.EMPTY)
    # Confirmed in another bucket (the store was reconfigured since): the table says "copy".
    confirm_central_copies(dock, seaweed, set(originals.values()))

    result = dock_and_wait(dock, recorder)

    assert card_contents(recorder) == originals
    assert journal_entries(dock, "clip.delete_requested") == []
    lost = [e for e in journal_entries(dock, "replication.refused")]
    assert {e.data["sha256"] for e in lost} == set(originals.values())
    assert {e.data["reason"] for e in lost} == {"object_lost"}
    assert result.offload.waiting_for_copy == len(set(originals.values()))
    with dock.db.transaction() as session:
        rows = session.scalars(select(Replica)).all()
        # Not a copy any more, and queued again for the replicator (not left refused).
        assert rows and all(r.confirmed_at_utc is None and r.refused_reason == "" for r in rows)

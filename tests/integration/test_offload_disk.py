"""A dock disk that fills while several bays copy stops cleanly, with the reserve alert.

The store sits on a real small file system (a tmpfs mounted for the test, which needs
root; the tests skip without it), so free space, ENOSPC and the sum of copies in flight
are the kernel's, not a mock's.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from dock import journal
from dock.bays.states import BayState
from dock.db.models import Clip
from dock.offload.store import EvidenceStore

RESERVE_BYTES = 256 << 10


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 3 MiB file system of its own (torn down after the docks that use it)."""
    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def put_store_on(dock, where: Path, **kwargs) -> EvidenceStore:
    store = EvidenceStore(where / "store", reserve_bytes=RESERVE_BYTES, **kwargs)
    dock.store = dock.offloader.store = store
    return store


def card_contents(recorder) -> dict[str, str]:
    storage = recorder.storage
    storage.rescan()
    return {path: storage.sha256(path).hex() for path, _ in storage.list_files()}


def journal_entries(dock, kind: str):
    with dock.db.transaction() as session:
        return [e for e in journal.read_after(session, 0, limit=100_000) if e.type == kind]


@pytest.mark.parametrize("bays", [2, 4])
def test_two_bays_filling_a_small_store_stop_cleanly_with_the_reserve_alert(
    small_disk, make_dock, bays
):
    dock = make_dock(bays=4, offload={"max_concurrent_bays": bays})
    store = put_store_on(dock, small_disk)
    recorders = [
        dock.recorder(f"ZFY7000{n}", clip_count=4, clip_bytes=400_000) for n in range(bays)
    ]
    originals = {r.board.serial(): card_contents(r) for r in recorders}
    dock.start()
    for bay, recorder in enumerate(recorders, start=1):
        dock.plug(recorder, bay)
    results = dict(dock.next_result() for _ in recorders)
    states = {bay: result.state for bay, result in results.items()}
    assert BayState.FAULT not in states.values(), states
    stopped = [b for b, s in states.items() if s is BayState.ATTENTION]
    assert stopped and all("reserve" in dock.bay_row(b).reason for b in stopped)
    alerts = journal_entries(dock, "dock.disk_reserve_reached")
    assert alerts and all("refused" not in a.data["reason"] for a in alerts)  # never ENOSPC
    assert shutil.disk_usage(small_disk).free >= RESERVE_BYTES - 64 * 4096
    assert list(store.tmp_dir.iterdir()) == []
    with dock.db.transaction() as session:
        recorded = set(session.scalars(select(Clip.sha256)))
    for recorder in recorders:
        on_card = set(card_contents(recorder).values())
        for sha in originals[recorder.board.serial()].values():
            assert sha in on_card or (sha in recorded and store.verify(sha))


def test_a_disk_that_refuses_a_write_is_a_clean_stop_with_the_alert_not_a_fault(
    small_disk, make_dock
):
    dock = make_dock()
    # The free-space check is fooled (another writer, a quota): the kernel says ENOSPC.
    store = put_store_on(dock, small_disk, disk_free_bytes=lambda _: 1 << 40)
    recorder = dock.recorder("ZFY70001", clip_count=6, clip_bytes=800_000)
    originals = card_contents(recorder)
    dock.start()
    dock.plug(recorder, 1)
    _, result = dock.next_result()
    assert result.state is BayState.ATTENTION
    reason = dock.bay_row(1).reason
    assert "No space left on device" in reason and "\n" not in reason
    (alert,) = journal_entries(dock, "dock.disk_reserve_reached")
    assert "No space left on device" in alert.data["reason"]
    assert list(store.tmp_dir.iterdir()) == []
    on_card = card_contents(recorder)
    assert on_card == originals  # a walk that stopped frees nothing

"""Offload at docking: every clip comes off exact, durable and journaled before the
recorder's card is freed, and nothing a recorder holds can make the dock lose or alter one.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from dock import journal
from dock.bays.states import BayState
from dock.db.models import Clip, Quarantined


def card_contents(recorder) -> dict[str, str]:
    """path -> sha256 hex of every file on the recorder's card, read from the card itself."""
    storage = recorder.storage
    storage.rescan()
    return {path: storage.sha256(path).hex() for path, _ in storage.list_files()}


def stored_objects(dock) -> dict[str, bytes]:
    objects = dock.store.objects_dir
    return {p.name: p.read_bytes() for p in objects.rglob("*") if p.is_file()}


def clip_rows(dock) -> list[Clip]:
    with dock.db.transaction() as session:
        rows = list(session.scalars(select(Clip).order_by(Clip.source_path)))
        session.expunge_all()
        return rows


def journal_entries(dock, prefix=""):
    with dock.db.transaction() as session:
        return [
            e for e in journal.read_after(session, 0, limit=10_000) if e.type.startswith(prefix)
        ]


def dock_and_wait(dock, recorder, bay=1):
    dock.plug(recorder, bay)
    got_bay, result = dock.next_result()
    assert got_bay == bay
    return result


def test_every_clip_comes_off_exact_read_only_and_then_leaves_the_recorder(dock):
    recorder = dock.recorder("ZFY30001", clip_count=5, clip_bytes=200_000)
    originals = card_contents(recorder)
    dock.start()
    result = dock_and_wait(dock, recorder)
    assert result.state is BayState.READY
    objects = stored_objects(dock)
    assert set(objects) == set(originals.values())
    for sha, content in objects.items():
        assert hashlib.sha256(content).hexdigest() == sha
        mode = (dock.store.path_of(sha)).stat().st_mode
        assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert card_contents(recorder) == {}
    rows = clip_rows(dock)
    assert {r.sha256 for r in rows} == set(originals.values())
    assert {r.source_path for r in rows} == set(originals)
    assert all(r.device_serial == "ZFY30001" and r.officer_number == "000001" for r in rows)
    assert all(r.agency == "City Management" and r.bay == 1 for r in rows)
    assert all(r.case_name is None and r.party is None for r in rows)


def test_clip_is_not_deleted_from_recorder_before_its_stored_row_is_journaled(dock):
    recorder = dock.recorder("ZFY30001", clip_count=4)
    dock.start()
    dock_and_wait(dock, recorder)
    entries = journal_entries(dock, "clip.")
    stored_at = {e.data["sha256"]: e.id for e in entries if e.type == "clip.stored"}
    deleted_at = {e.data["sha256"]: e.id for e in entries if e.type == "clip.deleted_from_recorder"}
    assert set(deleted_at) == set(stored_at) and deleted_at
    assert all(stored_at[sha] < deleted_at[sha] for sha in deleted_at)


def test_policy_never_keeps_every_clip_on_the_recorder(make_dock):
    dock = make_dock(offload={"delete_policy": "never"})
    recorder = dock.recorder("ZFY30001", clip_count=4)
    originals = card_contents(recorder)
    dock.start()
    dock_and_wait(dock, recorder)
    assert card_contents(recorder) == originals
    assert set(stored_objects(dock)) == set(originals.values())


def test_docking_twice_makes_no_duplicates_and_recognises_stored_clips(make_dock):
    dock = make_dock(offload={"delete_policy": "after_central_copy"})
    recorder = dock.recorder("ZFY30001", clip_count=4)
    files = len(card_contents(recorder))  # the clips and the officer's voice notes
    dock.start()
    dock_and_wait(dock, recorder)
    dock.unplug(recorder, 1)
    dock.wait_for_state(1, BayState.EMPTY)
    dock_and_wait(dock, recorder)
    assert len(clip_rows(dock)) == files
    assert len(stored_objects(dock)) == files
    assert len(journal_entries(dock, "clip.already_stored")) == files


def test_clips_whose_size_disagrees_with_the_listing_are_copied_as_the_card_holds_them(dock):
    from firmware_bridge.sim import Faults

    recorder = dock.recorder("ZFY30001", clip_count=3, faults=Faults(lie_about_sizes=True))
    originals = card_contents(recorder)
    dock.start()
    result = dock_and_wait(dock, recorder)
    assert result.state is BayState.ATTENTION
    assert "stay on the recorder" in dock.bay_row(1).reason
    assert card_contents(recorder) == originals
    assert set(stored_objects(dock)) == set(originals.values())
    rows = clip_rows(dock)
    assert {r.verification for r in rows} == {"not_verified"}
    assert all("in the recorder's listing" in r.verification_reason for r in rows)
    assert journal_entries(dock, "clip.deleted_from_recorder") == []


def test_hostile_card_entries_without_bytes_are_quarantined_and_every_file_comes_off(
    dock, tmp_path
):
    recorder = dock.recorder("ZFY30001", clip_count=3)
    card = recorder.storage.location
    good = card_contents(recorder)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not evidence")
    os.symlink(secret, card / "link.MP4")
    os.mkfifo(card / "pipe.MP4")
    (card / "empty.MP4").write_bytes(b"")
    with open(card.as_posix().encode() + b"/bad\xffname.MP4", "wb") as handle:
        handle.write(b"x" * 100)
    recorder.storage.rescan()  # the recorder lists what is on its card now
    dock.start()
    dock_and_wait(dock, recorder)
    stored = stored_objects(dock)
    assert set(good.values()) <= set(stored)
    assert hashlib.sha256(b"").hexdigest() in stored  # the zero-length file came off
    assert hashlib.sha256(b"x" * 100).hexdigest() in stored  # and the non-UTF-8 name
    assert hashlib.sha256(b"not evidence").hexdigest() not in stored
    with dock.db.transaction() as session:
        reasons = list(session.scalars(select(Quarantined.reason)))
    assert any("symbolic link" in r for r in reasons)
    assert any("FIFO" in r for r in reasons)
    assert all("\n" not in r for r in reasons)
    odd = [r for r in clip_rows(dock) if r.size_bytes == 100]
    assert [r.raw_path.split("/")[-1] for r in odd] == [b"bad\xffname.MP4".hex()]
    assert secret.read_bytes() == b"not evidence"
    # The recorder lists the odd name as text it can send (U+FFFD), not as its bytes: the
    # file is copied as not listed, and never deleted from the card.
    assert [(r.is_listed, r.verification) for r in odd] == [(False, "not_verified")]
    assert os.path.exists(card.as_posix().encode() + b"/bad\xffname.MP4")


def test_clip_stored_later_than_the_limit_is_flagged_late(dock):
    now_s = int(datetime.now(UTC).timestamp())
    old = dock.recorder("ZFY30001", clip_count=2, first_start_utc_s=now_s - 30 * 3600)
    new = dock.recorder("ZFY30002", clip_count=2, first_start_utc_s=now_s - 2 * 3600)
    dock.start()
    dock_and_wait(dock, old, bay=1)
    dock_and_wait(dock, new, bay=2)
    late = {r.device_serial: r.is_late for r in clip_rows(dock)}
    assert late == {"ZFY30001": True, "ZFY30002": False}
    delays = [r.handover_delay_s for r in clip_rows(dock) if r.device_serial == "ZFY30001"]
    assert all(d > 24 * 3600 for d in delays)


def test_full_dock_disk_stops_before_the_reserve_and_deletes_nothing(make_dock):
    dock = make_dock(offload={"reserve_bytes": 2**62})
    recorder = dock.recorder("ZFY30001", clip_count=3)
    originals = card_contents(recorder)
    dock.start()
    result = dock_and_wait(dock, recorder)
    assert result.state is BayState.ATTENTION
    assert "reserve" in dock.bay_row(1).reason
    assert card_contents(recorder) == originals
    assert stored_objects(dock) == {}
    assert len(journal_entries(dock, "dock.disk_reserve_reached")) == 1


@pytest.mark.parametrize("card", ["fat32", "exfat"])
def test_clips_come_off_fat32_and_exfat_cards(make_dock, card):
    if card == "exfat" and (os.geteuid() != 0 or not os.path.exists("/dev/loop-control")):
        pytest.skip("the simulator fills exFAT images through a loop device, which needs root")
    dock = make_dock()
    recorder = dock.recorder("ZFY30001", clip_count=4, clip_bytes=100_000, card=card)
    originals = card_contents(recorder)
    dock.start()
    result = dock_and_wait(dock, recorder)
    assert result.state is BayState.READY
    assert set(stored_objects(dock)) == set(originals.values())
    assert card_contents(recorder) == {}


def test_recorder_pulled_out_mid_offload_loses_nothing_and_docking_again_finishes(make_dock):
    dock = make_dock(offload={"delete_policy": "after_verified_copy"})
    recorder = dock.recorder("ZFY30001", clip_count=12, clip_bytes=3_000_000)
    originals = card_contents(recorder)
    dock.start()
    dock.plug(recorder, 1)
    dock.wait_for_state(1, BayState.OFFLOADING)
    deadline = time.monotonic() + 20
    while not journal_entries(dock, "clip.stored") and time.monotonic() < deadline:
        time.sleep(0.01)
    dock.unplug(recorder, 1)
    _, interrupted = dock.next_result()
    assert interrupted.state is BayState.FAULT  # the link went away mid-offload
    dock.wait_for_state(1, BayState.EMPTY)
    # Every clip is on the card, or stored and recorded, or both; no half file anywhere.
    on_card = card_contents(recorder)
    stored = stored_objects(dock)
    recorded = {r.sha256 for r in clip_rows(dock)}
    for sha in originals.values():
        assert sha in on_card.values() or (sha in stored and sha in recorded)
    assert list(dock.store.tmp_dir.iterdir()) == []
    assert dock_and_wait(dock, recorder).state is BayState.READY
    assert set(stored_objects(dock)) == set(originals.values())
    assert card_contents(recorder) == {}
    with dock.db.transaction() as session:
        assert session.scalar(select(func.count(Clip.id))) == len(originals)
        assert journal.verify(session).is_intact


def test_four_bays_offload_at_once_within_the_limit(make_dock):
    dock = make_dock(offload={"max_concurrent_bays": 2})
    recorders = [dock.recorder(f"ZFY4000{n}", clip_count=3, clip_bytes=300_000) for n in range(4)]
    originals = set()
    for recorder in recorders:
        originals |= set(card_contents(recorder).values())
    dock.start()
    for bay, recorder in enumerate(recorders, start=1):
        dock.plug(recorder, bay)
    states = dict(dock.next_result() for _ in recorders)
    assert all(r.state is BayState.READY for r in states.values())
    assert set(stored_objects(dock)) == originals


def test_clips_belong_to_the_officer_who_carried_the_recorder_not_the_next_assignee(dock):
    from dock import ledger

    recorder = dock.recorder("ZFY30001", clip_count=1)
    dock.start()
    assert dock_and_wait(dock, recorder).state is BayState.READY
    dock.unplug(recorder, 1)  # issued to officer 000001
    dock.wait_for_state(1, BayState.EMPTY)
    now = datetime.now(UTC)
    with dock.db.transaction() as session:
        ledger.register_officer(
            session,
            officer_number="777777",
            name="Next",
            unit_number="U1",
            unit_name="U",
            actor="custodian",
            at=now,
        )
        ledger.assign(session, "ZFY30001", "777777", actor="custodian", at=now)
    (recorder.storage.location / "20261123").mkdir(exist_ok=True)
    (recorder.storage.location / "20261123" / "shift2.MP4").write_bytes(b"recorded on patrol")
    recorder.storage.rescan()
    dock_and_wait(dock, recorder)
    rows = {r.source_path: r.officer_number for r in clip_rows(dock)}
    assert rows["20261123/shift2.MP4"] == "000001"

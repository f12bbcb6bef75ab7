"""A recorder that answers "no", or claims the impossible, over a working link.

The simulator runs the real firmware; only its hardware is made to fail (an RTC that does
not take the time, a gauge that cannot be read, a card reporting more free than total), so
the dock hears exactly the Error replies and values a real recorder would send. Each must
end in a verdict or an attention that names it, journaled, never in FAULT as a lost link.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dock import journal
from dock.bays.docking import DockingConversation
from dock.bays.machine import BayMachine
from dock.bays.states import BayState
from dock.clock import FixedClock
from dock.config import parse_settings
from dock.db.database import open_database
from dock.offload.ingest import Offloader
from dock.offload.store import EvidenceStore
from firmware_bridge import messages
from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import ListingTooSlow
from firmware_bridge.firmware.memory_board import MemoryBoard
from firmware_bridge.firmware.recorder import Recorder
from firmware_bridge.transport import MemoryTransport
from hw.clock_sync import FakeClockSync
from hw.volumes import SimulatedVolumes

FOUR_BILLION = 2**32 - 1


def dock_one(dock, recorder):
    dock.start()
    dock.plug(recorder, 1)
    bay, result = dock.next_result()
    assert bay == 1
    return result


def journal_rows(dock, type_):
    with dock.db.transaction() as session:
        return [e for e in journal.latest(session, limit=200) if e.type == type_]


def codes(result):
    return [r.code for r in result.verdict.reasons]


def test_a_refused_set_clock_gives_a_verdict_not_a_fault(dock):
    recorder = dock.recorder("ZFY30001", clock_skew_s=600)

    def dead_rtc(clock_utc_ms: int) -> None:
        raise OSError("RTC write not acknowledged")

    recorder.board.set_ms = dead_rtc
    result = dock_one(dock, recorder)
    assert result.state is BayState.ATTENTION
    assert codes(result) == ["clock_refused"]
    reason = dock.bay_row(1).reason
    assert "the recorder refused to set its clock" in reason
    assert "clock battery may have failed" in reason
    assert "stopped answering" not in reason
    [refused] = journal_rows(dock, "recorder.refused")
    assert refused.device == "ZFY30001"
    assert refused.data["request"] == "SetClock"
    assert refused.data["code"] == messages.ERR_CLOCK_FAULT
    [completed] = journal_rows(dock, "check.completed")
    assert completed.data["reason_codes"] == ["clock_refused"]


def test_a_refused_status_gives_a_verdict_naming_it(dock):
    recorder = dock.recorder("ZFY30002")

    def broken_gauge() -> int:
        raise OSError("fuel gauge does not answer on I2C")

    recorder.board.battery_pct = broken_gauge
    result = dock_one(dock, recorder)
    assert result.state is BayState.ATTENTION
    assert codes(result) == ["status_refused"]
    assert "refused to report its battery" in dock.bay_row(1).reason
    [refused] = journal_rows(dock, "recorder.refused")
    assert (refused.data["request"], refused.data["code"]) == (
        "GetStatus",
        messages.ERR_STORAGE_FAULT,
    )


def test_more_free_than_total_storage_is_a_not_ready_reason(dock):
    recorder = dock.recorder("ZFY30003")
    total = recorder.board.total_bytes()
    recorder.board.free_bytes = lambda: 3 * total + 1
    result = dock_one(dock, recorder)
    assert result.state is BayState.ATTENTION
    assert codes(result) == ["storage_impossible"]
    assert f"{(3 * total + 1) / 1e9:.1f} GB free" not in dock.bay_row(1).reason


def test_an_impossible_recorder_clock_is_a_not_ready_reason(make_dock):
    dock = make_dock(is_clock_synced=False)  # nothing corrects it: the reading stands
    recorder = dock.recorder("ZFY30004")
    recorder.board.now_ms = lambda: 2**63 - 1  # beyond any date
    result = dock_one(dock, recorder)
    assert result.state is BayState.ATTENTION
    assert codes(result) == ["clock_impossible"]
    assert str(2**63 - 1) in dock.bay_row(1).reason


def test_a_recorder_claiming_four_billion_clips_is_reported_not_listed(dock):
    recorder = dock.recorder("ZFY30005")
    firmware = recorder.recorder
    real_listing = firmware._on_ListClips
    asked: list[int] = []

    def claims_four_billion(fields):
        asked.append(fields["start_index"])
        name, page = real_listing(fields)
        return name, dict(page, total=FOUR_BILLION)

    firmware._on_ListClips = claims_four_billion
    result = dock_one(dock, recorder)
    assert result.state is BayState.ATTENTION
    assert result.offload is None  # nothing was unlocked or copied
    assert asked == [0]  # the claim was checked before a second page was asked for
    reason = dock.bay_row(1).reason
    assert str(FOUR_BILLION) in reason and "max_listed_clips" in reason
    [claim] = journal_rows(dock, "recorder.claim_rejected")
    assert claim.device == "ZFY30005"
    assert (claim.data["claim"], claim.data["claimed"]) == ("clip_count", FOUR_BILLION)
    assert claim.data["limit"] == dock.settings.offload.max_listed_clips
    assert recorder.board.is_mass_storage_on() is False


def test_a_listing_at_the_limit_is_offloaded(make_dock):
    dock = make_dock(offload={"max_listed_clips": 4})
    recorder = dock.recorder("ZFY30006", clip_count=3)
    assert len(recorder.board.list_clips()) == 4  # three clips and a voice note
    result = dock_one(dock, recorder)
    assert result.state is BayState.READY
    assert result.offload is not None and result.offload.stored == 4


def test_a_listing_slower_than_max_listing_s_is_reported_not_waited_for(tmp_path):
    clock = FixedClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    settings = parse_settings(
        {"dock": {"data_dir": str(tmp_path / "data")}, "offload": {"max_listing_s": 300}},
        base_dir=tmp_path,
        source=None,
    )
    db = open_database(settings.dock.data_dir)
    board = MemoryBoard(clips=[_memory_clip(i) for i in range(200)])
    recorder = Recorder(board)
    real_listing = recorder._on_ListClips
    pages: list[int] = []

    def slow_listing(fields):
        pages.append(fields["start_index"])
        clock.advance(100)  # each page takes 100 s of the dock's clock
        return real_listing(fields)

    recorder._on_ListClips = slow_listing
    client = RecorderClient(MemoryTransport(recorder), timeout_s=0.05)
    client.hello()
    offloader = Offloader(
        db, EvidenceStore(tmp_path / "store", reserve_bytes=0), settings, clock, SimulatedVolumes()
    )
    conversation = DockingConversation(
        BayMachine(1, db, clock),
        client,
        "1-1.1",
        clock=clock,
        clock_sync=FakeClockSync(True),
        check=settings.check,
        offloader=offloader,
    )
    try:
        with pytest.raises(ListingTooSlow, match="max_listing_s"):
            conversation._list_clips()
        assert len(pages) == 4  # the page that crossed 300 s was the last one asked for
    finally:
        db.close()


def _memory_clip(i):
    return {
        "path": f"DCIM/20261123/20261123_{80000 + i:06d}_{i:04d}.MP4",
        "start_utc_s": 1795940000 + 60 * i,
        "end_utc_s": 1795940059 + 60 * i,
        "size_bytes": 1000,
        "sha256": bytes(32),
        "is_important": False,
        "place": "",
    }


def test_a_refused_delete_is_journaled_and_named_in_the_verdict(dock):
    recorder = dock.recorder("ZFY30007", clip_count=2)

    def card_write_protected(path: str) -> None:
        raise OSError("card is write-protected")

    recorder.board.delete_clip = card_write_protected
    listed = len(recorder.board.list_clips())
    result = dock_one(dock, recorder)
    assert result.state is BayState.ATTENTION
    assert result.offload is not None and result.offload.stored == listed
    assert codes(result) == ["delete_refused"]
    assert f"refused to delete {listed} clip(s)" in dock.bay_row(1).reason
    assert len(journal_rows(dock, "clip.delete_refused")) == listed
    assert "stopped answering" not in dock.bay_row(1).reason


def test_a_card_whose_backup_boot_sector_disagrees_is_not_ready(dock):
    recorder = dock.recorder("ZFY30008", clip_count=1, card="fat32")
    image = recorder.card[1]
    with open(image, "r+b") as card:
        card.seek(6 * 512 + 32)  # BPB_TotSec32 in the backup boot sector (sector 6)
        total_sectors = int.from_bytes(card.read(4), "little")
        card.seek(6 * 512 + 32)
        card.write((total_sectors * 2).to_bytes(4, "little"))
    listed = len(recorder.board.list_clips())
    result = dock_one(dock, recorder)
    assert result.state is BayState.ATTENTION
    assert result.offload is not None and result.offload.stored == listed  # still came off
    assert codes(result) == ["card"]
    assert "backup boot sector" in dock.bay_row(1).reason
    assert len(journal_rows(dock, "card.volume_problem")) == 1

"""Journal rows read back as the events they were written from, and a cursor file that
survives a crash mid-write."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from dock import journal
from dock.db import open_database
from dock.events import (
    BayStateChanged,
    CheckCompleted,
    ClipStored,
    InterruptionFound,
    RecorderReturned,
    VoiceNotesNeeded,
)
from dock.journal import JournalEntry
from dock.journal_reader import CursorFile, JournalDecodeError, decode, read_after

AT = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path)
    yield database
    database.close()


def append(db, *events):
    for happened in events:
        with db.transaction() as session:
            journal.append(session, happened, actor="test", at=AT)


def test_rows_decode_back_into_equal_events_with_times_tuples_and_nones(db):
    written = [
        BayStateChanged(
            bay=1, device="D1", from_state="empty", to_state="identifying", trigger="docked"
        ),
        CheckCompleted(
            bay=1,
            device="D1",
            verdict="NOT READY",
            reasons=("battery 12%",),
            reason_codes=("battery",),
        ),
        RecorderReturned(device="D1", officer_number="310115", issued_at=AT),
        ClipStored(
            bay=1,
            device="D1",
            sha256="ab" * 32,
            size_bytes=10,
            source_path="DCIM/a.MP4",
            recorded_start_utc=AT,
            handover_delay_s=3600.5,
            is_late=True,
        ),
        InterruptionFound(
            bay=2,
            device="D2",
            key="D2:event:4",
            officer_number=None,
            start_utc=AT,
            end_utc=None,
            reason_code=2,
            reason="battery exhausted",
            found="event_log",
            status="unexplained",
        ),
        VoiceNotesNeeded(
            bay=2, device="D2", officer_number="310116", keys=("D2:event:4", "D2:gap:1")
        ),
    ]
    append(db, *written)
    read = read_after(db, 0)
    assert [t.event for t in read] == written
    assert [t.entry.id for t in read] == [1, 2, 3, 4, 5, 6]
    assert [t.event for t in read_after(db, 4, limit=1)] == [written[4]]
    assert read_after(db, 6) == []


def entry(type_: str, data: dict) -> JournalEntry:
    return JournalEntry(7, AT, type_, "test", 1, "D1", data, "0" * 64, "1" * 64)


def test_a_type_from_a_newer_dock_decodes_to_none_and_a_row_missing_a_field_is_refused():
    assert decode(entry("from.the.future", {"x": 1})) is None
    with pytest.raises(
        JournalDecodeError, match=r"journal row 7 \(bay.state_changed\) has no from_state"
    ):
        decode(entry("bay.state_changed", {"to_state": "ready", "trigger": "t"}))
    # a field added later with a default may be missing from old rows
    old = decode(entry("bay.state_changed", {"from_state": "a", "to_state": "b", "trigger": "t"}))
    assert old == BayStateChanged(bay=1, device="D1", from_state="a", to_state="b", trigger="t")


def test_a_row_that_does_not_fit_is_skipped_with_its_problem_and_reading_goes_on(db, caplog):
    import sqlite3

    append(db, BayStateChanged(bay=1, from_state="empty", to_state="identifying", trigger="docked"))
    raw = sqlite3.connect(db.engine.url.database, isolation_level=None)
    raw.execute(
        "INSERT INTO journal (id, at_utc, type, actor, bay, device, data, prev_hash, hash) "
        "VALUES (2, ?, 'bay.state_changed', 'x', 1, NULL, '{}', 'p', 'h')",
        (AT.isoformat(),),
    )
    raw.close()
    append(
        db,
        BayStateChanged(bay=1, from_state="identifying", to_state="checking", trigger="identified"),
    )
    with caplog.at_level(logging.WARNING, logger="dock.journal_reader"):
        read = read_after(db, 0)
    assert [(t.entry.id, t.event is None) for t in read] == [(1, False), (2, True), (3, False)]
    assert read[1].problem is not None and "has no from_state" in read[1].problem
    assert "journal row 2" in caplog.text


def test_the_cursor_file_round_trips_and_leaves_no_temporary_file(tmp_path):
    cursor = CursorFile(tmp_path / "reader.json")
    assert cursor.load() is None
    cursor.save(41, {"bays": {"1": "ready"}})
    cursor.save(42, {"bays": {"1": "fault"}})
    assert cursor.load() == (42, {"bays": {"1": "fault"}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reader.json"]


@pytest.mark.parametrize(
    "text", ["", "{not json", json.dumps({"cursor": -1, "state": {}}), json.dumps({"state": {}})]
)
def test_an_unusable_cursor_file_means_rebuild_from_the_first_row(tmp_path, caplog, text):
    path = tmp_path / "reader.json"
    path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="dock.journal_reader"):
        assert CursorFile(path).load() is None
    assert "rebuilding from the journal" in caplog.text

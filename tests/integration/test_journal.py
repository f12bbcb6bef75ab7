"""The journal: hash-chained, append-only, and honest about the first row someone changed.

Tampering is real: the tests open the SQLite file as an attacker with file access would,
drop the triggers, and edit, delete or insert rows with plain SQL.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DatabaseError

from dock import journal
from dock.clock import FixedClock
from dock.db import open_database
from dock.db.models import JournalRow
from dock.events import BayStateChanged, EventBus, RecorderDocked

START = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path)
    yield database
    database.close()


@pytest.fixture
def clock():
    return FixedClock(START)


def append_rows(db, clock, count, bay=1):
    for n in range(count):
        clock.advance(1.5)
        event = BayStateChanged(
            bay=bay, device="RX-1", from_state="empty", to_state="identifying", trigger=f"t{n}"
        )
        with db.transaction() as session:
            journal.append(session, event, actor="bay", at=clock.now_utc())


def verify(db):
    with db.transaction() as session:
        return journal.verify(session)


def attacker(db):
    """A raw connection to the file with the append-only triggers dropped."""
    path = db.engine.url.database
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("DROP TRIGGER journal_refuses_update")
    raw.execute("DROP TRIGGER journal_refuses_delete")
    return raw


def test_appended_rows_form_a_chain_that_verifies(db, clock):
    append_rows(db, clock, 20)
    result = verify(db)
    assert result.is_intact, result.problem
    assert result.rows_checked == 20
    with db.transaction() as session:
        rows = list(session.scalars(select(JournalRow).order_by(JournalRow.id)))
    assert [r.id for r in rows] == list(range(1, 21))
    assert rows[0].prev_hash == journal.GENESIS_HASH
    assert all(
        later.prev_hash == earlier.hash for earlier, later in zip(rows, rows[1:], strict=False)
    )
    assert result.last_hash == rows[-1].hash


def test_row_data_is_canonical_json_and_hash_covers_every_column(db, clock):
    event = RecorderDocked(bay=3, device="RX-9", usb_port_path="1-1.3")
    with db.transaction() as session:
        entry = journal.append(session, event, actor="hotplug", at=clock.now_utc())
    with db.transaction() as session:
        row = session.get(JournalRow, entry.id)
    assert row.data == '{"usb_port_path":"1-1.3"}'
    assert (row.type, row.actor, row.bay, row.device) == ("recorder.docked", "hotplug", 3, "RX-9")
    assert row.at_utc == START
    expected = journal.row_hash(
        1, START, "recorder.docked", "hotplug", 3, "RX-9", row.data, journal.GENESIS_HASH
    )
    assert row.hash == expected


def test_database_refuses_update_of_a_journal_row(db, clock):
    append_rows(db, clock, 3)
    with (
        pytest.raises(DatabaseError, match="append-only: UPDATE refused"),
        db.transaction() as session,
    ):
        session.get(JournalRow, 2).actor = "someone else"
    assert verify(db).is_intact


def test_database_refuses_delete_of_a_journal_row(db, clock):
    append_rows(db, clock, 3)
    with (
        pytest.raises(DatabaseError, match="append-only: DELETE refused"),
        db.transaction() as session,
    ):
        session.delete(session.get(JournalRow, 2))
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(JournalRow)) == 3


def test_edited_row_is_named_by_verify(db, clock):
    append_rows(db, clock, 30)
    attacker(db).execute('UPDATE journal SET data = \'{"trigger":"forged"}\' WHERE id = 17')
    result = verify(db)
    assert result.first_broken_id == 17
    assert result.problem == "row 17: hash does not match its contents (edited)"
    assert result.rows_checked == 16


def test_edited_row_with_recomputed_hash_breaks_the_link_of_the_next_row(db, clock):
    append_rows(db, clock, 30)
    raw = attacker(db)
    row = raw.execute(
        "SELECT id, at_utc, type, actor, bay, device, prev_hash FROM journal WHERE id = 17"
    ).fetchone()
    at = datetime.fromisoformat(row[1]).replace(tzinfo=UTC)
    forged = '{"trigger":"forged"}'
    digest = journal.row_hash(row[0], at, row[2], row[3], row[4], row[5], forged, row[6])
    raw.execute("UPDATE journal SET data = ?, hash = ? WHERE id = 17", (forged, digest))
    result = verify(db)
    assert result.problem == (
        "row 18: previous-hash link broken after row 17 (a row was deleted or inserted)"
    )


def test_deleted_row_is_named_by_verify(db, clock):
    append_rows(db, clock, 30)
    attacker(db).execute("DELETE FROM journal WHERE id = 17")
    result = verify(db)
    assert result.first_broken_id == 18
    assert result.problem == (
        "row 18: previous-hash link broken after row 16 (a row was deleted or inserted)"
    )


def test_deleted_first_row_is_named_by_verify(db, clock):
    append_rows(db, clock, 5)
    attacker(db).execute("DELETE FROM journal WHERE id = 1")
    assert verify(db).problem.startswith("row 2: the first row does not start the chain")


def test_row_inserted_at_the_end_with_a_forged_link_is_named_by_verify(db, clock):
    append_rows(db, clock, 20)
    raw = attacker(db)
    link = "f" * 64  # the forger does not know what to link to without recomputing it
    at = START.replace(hour=23)
    data = '{"trigger":"forged"}'
    digest = journal.row_hash(21, at, "recorder.issued", "bay", 1, "RX-1", data, link)
    raw.execute(
        "INSERT INTO journal VALUES (21, ?, 'recorder.issued', 'bay', 1, 'RX-1', ?, ?, ?)",
        (at.replace(tzinfo=None).isoformat(sep=" "), data, link, digest),
    )
    result = verify(db)
    assert result.first_broken_id == 21
    assert result.problem == (
        "row 21: previous-hash link broken after row 20 (a row was deleted or inserted)"
    )


def test_second_row_after_the_same_head_is_refused_even_without_triggers(db, clock):
    """A fork (two rows claiming the same predecessor) cannot be written at all."""
    append_rows(db, clock, 3)
    raw = attacker(db)
    link = raw.execute("SELECT hash FROM journal WHERE id = 2").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError, match="journal.prev_hash"):
        raw.execute(
            "INSERT INTO journal VALUES (4, '2026-03-01 09:00:00', 'x', 'y', 1, 'RX-1', '{}', ?, ?)",
            (link, "e" * 64),
        )


def strip_constraints(raw):
    """What an attacker with the file does to get rid of the unique columns: copy the table."""
    raw.execute("CREATE TABLE journal_copy AS SELECT * FROM journal")
    raw.execute("DROP TABLE journal")
    raw.execute("ALTER TABLE journal_copy RENAME TO journal")


def test_row_inserted_in_the_middle_is_found_where_the_chain_stops_matching(db, clock):
    """The forger renumbers rows 11.. to make room and links the new row 11 to row 10."""
    append_rows(db, clock, 20)
    raw = attacker(db)
    strip_constraints(raw)
    raw.execute("UPDATE journal SET id = id + 1000 WHERE id > 10")
    raw.execute("UPDATE journal SET id = id - 999 WHERE id > 1000")
    link = raw.execute("SELECT hash FROM journal WHERE id = 10").fetchone()[0]
    at = START.replace(hour=12)
    data = '{"trigger":"forged"}'
    digest = journal.row_hash(11, at, "recorder.issued", "bay", 1, "RX-1", data, link)
    raw.execute(
        "INSERT INTO journal VALUES (11, ?, 'recorder.issued', 'bay', 1, 'RX-1', ?, ?, ?)",
        (at.replace(tzinfo=None).isoformat(sep=" "), data, link, digest),
    )
    result = verify(db)
    assert result.first_broken_id == 12  # the first original row after the forged one
    assert result.rows_checked == 11


def test_rolled_back_transaction_leaves_no_journal_row_and_publishes_nothing(db, clock):
    bus, seen = EventBus(), []
    bus.subscribe(seen.append)
    db.bus = bus
    event = RecorderDocked(bay=1, device="RX-1", usb_port_path="1-1.1")
    with pytest.raises(RuntimeError), db.transaction() as session:
        journal.append(session, event, actor="bay", at=clock.now_utc())
        raise RuntimeError("the state change failed")
    with db.transaction() as session:
        assert journal.read_after(session, 0) == []
    assert seen == []


def test_listeners_run_after_commit_and_see_the_committed_row(db, clock):
    bus, seen_rows = EventBus(), []

    def listener(_event):
        with db.transaction() as other:
            seen_rows.append(len(journal.read_after(other, 0)))

    bus.subscribe(listener)
    db.bus = bus
    with db.transaction() as session:
        journal.append(
            session,
            RecorderDocked(bay=1, device="RX-1", usb_port_path="1-1.1"),
            actor="bay",
            at=clock.now_utc(),
        )
        journal.append(
            session,
            BayStateChanged(bay=1, from_state="empty", to_state="identifying", trigger="docked"),
            actor="bay",
            at=clock.now_utc(),
        )
        assert seen_rows == []
    assert seen_rows == [2, 2]


def test_a_failing_listener_does_not_stop_the_others(db, clock, caplog):
    bus, seen = EventBus(), []
    bus.subscribe(lambda _e: 1 / 0)
    bus.subscribe(seen.append)
    db.bus = bus
    event = RecorderDocked(bay=1, device="RX-1", usb_port_path="1-1.1")
    with db.transaction() as session:
        journal.append(session, event, actor="bay", at=clock.now_utc())
    assert seen == [event]
    assert "event listener" in caplog.text


def test_read_after_pages_from_a_cursor(db, clock):
    append_rows(db, clock, 12)
    with db.transaction() as session:
        first = journal.read_after(session, 0, limit=5)
        second = journal.read_after(session, first[-1].id, limit=5)
        rest = journal.read_after(session, second[-1].id, limit=5)
        assert journal.read_after(session, 12) == []
    assert [e.id for e in first + second + rest] == list(range(1, 13))
    assert first[0].data == {
        "from_state": "empty",
        "reason": "",
        "to_state": "identifying",
        "trigger": "t0",
    }


def test_naive_time_is_refused(db):
    event = RecorderDocked(bay=1, device="RX-1", usb_port_path="1-1.1")
    with pytest.raises(ValueError, match="aware UTC"), db.transaction() as session:
        journal.append(session, event, actor="bay", at=datetime(2026, 1, 1))  # noqa: DTZ001


def test_concurrent_appends_from_four_bay_threads_keep_one_valid_chain(db, clock):
    per_thread = 25
    errors = []
    barrier = threading.Barrier(4)

    def bay_thread(bay):
        try:
            barrier.wait()
            for n in range(per_thread):
                event = BayStateChanged(
                    bay=bay, from_state="checking", to_state="ready", trigger=f"{bay}-{n}"
                )
                with db.transaction() as session:
                    journal.append(session, event, actor=f"bay{bay}", at=clock.now_utc())
        except Exception as error:  # reported below, not swallowed
            errors.append(error)

    threads = [threading.Thread(target=bay_thread, args=(bay,)) for bay in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = verify(db)
    assert result.is_intact, result.problem
    assert result.rows_checked == 4 * per_thread
    with db.transaction() as session:
        triggers = {e.data["trigger"] for e in journal.read_after(session, 0, limit=1000)}
    assert triggers == {f"{bay}-{n}" for bay in range(1, 5) for n in range(per_thread)}


def test_a_long_lived_session_publishes_each_commit_once_and_forgets_rollbacks(db, clock):
    bus, seen = EventBus(), []
    bus.subscribe(seen.append)
    db.bus = bus
    docked = [
        RecorderDocked(bay=bay, device="RX-1", usb_port_path=f"1-1.{bay}") for bay in (1, 2, 3)
    ]
    with db.session() as session:
        with session.begin():
            journal.append(session, docked[0], actor="bay", at=clock.now_utc())
        with pytest.raises(RuntimeError), session.begin():
            journal.append(session, docked[1], actor="bay", at=clock.now_utc())
            raise RuntimeError("undone")
        with session.begin():
            journal.append(session, docked[2], actor="bay", at=clock.now_utc())
    assert seen == [docked[0], docked[2]]


AWKWARD_TEXT = [
    "\x00\x01\x1f\x7f",
    'quote " and \\ backslash',
    "\u2028\u2029 名 😀",
    "\t\n\r\b\f",
    "",
]


def test_rows_with_awkward_text_verify_the_same_in_sqlite_and_in_python(db, clock):
    """verify lets SQLite render the canonical form; it must agree with canonical_json."""
    for n, text in enumerate(AWKWARD_TEXT):
        clock.advance(0.000001 * (n + 1))
        event = BayStateChanged(
            bay=None if n % 2 else n, from_state=text, to_state="ready", trigger=text
        )
        with db.transaction() as session:
            journal.append(session, event, actor=text or "bay", at=clock.now_utc())
    raw = sqlite3.connect(db.engine.url.database)
    rows = raw.execute(f"SELECT {journal.COLUMNS} FROM journal ORDER BY id").fetchall()
    in_python = journal._walk([rows], None, journal.GENESIS_HASH, None)
    in_sqlite = journal.verify(raw)
    assert in_python == in_sqlite
    assert in_sqlite.is_intact and in_sqlite.rows_checked == len(AWKWARD_TEXT)


def test_incremental_verify_checks_only_the_rows_after_its_checkpoint(db, clock):
    append_rows(db, clock, 30)
    with db.transaction() as session:
        first = journal.verify(session)
        journal.record_checkpoint(session, first, is_full=True, at=clock.now_utc())
    append_rows(db, clock, 5)
    with db.transaction() as session:
        since = journal.last_checkpoint(session)
        later = journal.verify(session, since)
    assert (since.row_id, since.row_hash) == (30, first.last_hash)
    assert (later.rows_checked, later.first_id, later.last_id) == (5, 31, 35)
    assert later.is_intact


def test_incremental_verify_finds_an_edit_after_its_checkpoint_but_not_before(db, clock):
    append_rows(db, clock, 30)
    with db.transaction() as session:
        journal.record_checkpoint(
            session, journal.verify(session), is_full=True, at=clock.now_utc()
        )
    append_rows(db, clock, 10)
    raw = attacker(db)
    raw.execute("UPDATE journal SET actor = 'x' WHERE id IN (12, 35)")
    with db.transaction() as session:
        since = journal.last_checkpoint(session)
        assert journal.verify(session, since).first_broken_id == 35
        assert journal.verify(session).first_broken_id == 12

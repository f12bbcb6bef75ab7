"""The device ledger (台账) on a real SQLite file: each change commits with its journal row."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from dock import journal, ledger
from dock.clock import FixedClock
from dock.db import DB_FILE_NAME, open_database
from dock.db.database import newest_revision
from dock.db.models import Base, Custody, Device, FirmwareSeen, JournalRow
from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import Refused
from firmware_bridge.firmware.memory_board import MemoryBoard
from firmware_bridge.firmware.recorder import Recorder
from firmware_bridge.transport import MemoryTransport

START = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "data")
    yield database
    database.close()


@pytest.fixture
def clock():
    return FixedClock(START)


def journal_types(db):
    with db.transaction() as session:
        return [e.type for e in journal.read_after(session, 0, limit=1000)]


def add_officer(session, clock, number="310115", name="李明"):
    return ledger.register_officer(
        session,
        officer_number=number,
        name=name,
        unit_number="U-07",
        unit_name="城市管理执法大队",
        actor="custodian",
        at=clock.now_utc(),
    )


def add_device(session, clock, serial="RX-0042"):
    return ledger.register_device(
        session,
        serial=serial,
        model="ZFY-X1",
        firmware_version="1.4.2",
        actor="custodian",
        at=clock.now_utc(),
    )


@pytest.fixture
def assigned(db, clock):
    """A registered, assigned recorder RX-0042 of officer 310115."""
    with db.transaction() as session:
        add_officer(session, clock)
        add_device(session, clock)
        ledger.assign(session, "RX-0042", "310115", actor="custodian", at=clock.now_utc())


# -- the database itself -----------------------------------------------------------------------


def test_migrations_build_the_schema_on_an_empty_data_dir_and_match_the_models(tmp_path):
    data_dir = tmp_path / "fresh" / "data"
    db = open_database(data_dir)
    assert (data_dir / DB_FILE_NAME).exists()
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    db.close()


def test_second_start_migrates_nothing_and_keeps_every_row(tmp_path, clock):
    db = open_database(tmp_path)
    with db.transaction() as session:
        add_officer(session, clock)
    db.close()
    again = open_database(tmp_path)
    with again.engine.connect() as connection:
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    assert versions == [(newest_revision(),)]
    assert journal_types(again) == ["officer.registered"]
    again.close()


def test_database_runs_in_wal_mode_with_full_sync_and_foreign_keys(db):
    with db.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA synchronous").scalar() == 2  # FULL
        assert pragma("PRAGMA foreign_keys").scalar() == 1


def test_foreign_keys_are_enforced(db, clock):
    with pytest.raises(Exception, match="FOREIGN KEY"), db.transaction() as session:
        session.add(FirmwareSeen(device_id=999, version="1", seen_at=clock.now_utc()))


def test_times_come_back_aware_utc(db, clock, assigned):
    with db.transaction() as session:
        registered = ledger.get_device(session, "RX-0042").registered_at
    assert registered == START
    assert registered.tzinfo is UTC


# -- registration and pairing -----------------------------------------------------------------


def test_each_ledger_change_commits_with_its_journal_row(db, clock, assigned):
    with db.transaction() as session:
        ledger.issue(session, "RX-0042", 2, actor="bay", at=clock.now_utc())
    clock.advance(9 * 3600)
    with db.transaction() as session:
        ledger.return_(session, "RX-0042", 3, actor="bay", at=clock.now_utc())
    assert journal_types(db) == [
        "officer.registered",
        "device.registered",
        "device.assigned",
        "recorder.issued",
        "recorder.returned",
    ]
    with db.transaction() as session:
        assert journal.verify(session).is_intact


@pytest.mark.parametrize("change", ["register", "assign", "issue", "return"])
def test_rolled_back_change_leaves_neither_the_change_nor_its_journal_row(db, clock, change):
    with db.transaction() as session:
        add_officer(session, clock)
        if change != "register":
            add_device(session, clock)
        if change in ("assign", "issue", "return"):
            ledger.assign(session, "RX-0042", "310115", actor="c", at=clock.now_utc())
        if change == "return":
            ledger.issue(session, "RX-0042", 1, actor="bay", at=clock.now_utc())
    before = journal_types(db)
    with db.transaction() as session:
        custody_before = session.scalar(select(func.count()).select_from(Custody))
        open_before = ledger.current_holder(session, "RX-0042") if change == "return" else None

    with pytest.raises(RuntimeError), db.transaction() as session:
        at = clock.now_utc()
        if change == "register":
            add_device(session, clock)
        elif change == "assign":
            add_officer(session, clock, number="310116", name="王芳")
            ledger.assign(session, "RX-0042", "310116", actor="c", at=at)
        elif change == "issue":
            ledger.issue(session, "RX-0042", 1, actor="bay", at=at)
        else:
            ledger.return_(session, "RX-0042", 1, actor="bay", at=at)
        assert len(journal.read_after(session, 0, limit=1000)) > len(before)  # inside: present
        raise RuntimeError("power cut before commit")

    assert journal_types(db) == before
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Custody)) == custody_before
        if change == "register":
            assert session.scalar(select(Device).where(Device.serial == "RX-0042")) is None
        elif change == "assign":
            assert ledger.assigned_officer(session, "RX-0042").officer_number == "310115"
        elif change == "return":
            assert ledger.current_holder(session, "RX-0042").name == open_before.name


def test_registered_device_gets_a_fresh_secret_key_that_the_journal_never_shows(db, clock):
    with db.transaction() as session:
        one = add_device(session, clock, "RX-1").pairing_key
        two = add_device(session, clock, "RX-2").pairing_key
        assert not ledger.get_device(session, "RX-1").is_paired
    assert len(one) == ledger.PAIRING_KEY_BYTES and len(two) == ledger.PAIRING_KEY_BYTES
    assert one != two
    with db.transaction() as session:
        data = " ".join(r.data for r in session.scalars(select(JournalRow)))
    assert one.hex() not in data and two.hex() not in data


def test_registering_the_same_serial_twice_is_refused(db, clock):
    with db.transaction() as session:
        add_device(session, clock)
    with pytest.raises(ledger.LedgerError, match="already registered"), db.transaction() as s:
        add_device(s, clock)


def recorder_on_a_memory_link(serial="RX-0042", key=None):
    """The real firmware, spoken to by the real client, over an in-memory pipe."""
    board = MemoryBoard(serial=serial, key=key)
    client = RecorderClient(MemoryTransport(Recorder(board)), timeout_s=0.05)
    client.hello()
    return board, client


def test_pairing_writes_the_stored_key_then_records_it(db, clock, assigned):
    board, client = recorder_on_a_memory_link()
    ledger.pair_recorder(db, client, "RX-0042", actor="custodian", clock=clock)
    with db.transaction() as session:
        device = ledger.get_device(session, "RX-0042")
    client.authenticate(device.pairing_key)
    ledger.write_identity_to_recorder(db, client, "RX-0042")
    assert board.load_key() == device.pairing_key
    assert device.is_paired
    assert board.load_identity() == {
        "officer_number": "310115",
        "officer_name": "李明",
        "unit_number": "U-07",
        "unit_name": "城市管理执法大队",
    }
    assert journal_types(db)[-1] == "device.paired"


def test_recorder_that_refuses_the_key_is_not_marked_paired(db, clock, assigned):
    _, client = recorder_on_a_memory_link(key=b"\x07" * 32)  # paired elsewhere already
    with pytest.raises(Refused, match="already paired"):
        ledger.pair_recorder(db, client, "RX-0042", actor="c", clock=clock)
    with db.transaction() as session:
        assert not ledger.get_device(session, "RX-0042").is_paired
    assert "device.paired" not in journal_types(db)


# -- assignment, maintenance, firmware --------------------------------------------------------


def test_reassigning_closes_the_previous_assignment_and_journals_who_had_it(db, clock, assigned):
    clock.advance(3600)
    with db.transaction() as session:
        add_officer(session, clock, number="310116", name="王芳")
        ledger.assign(session, "RX-0042", "310116", actor="custodian", at=clock.now_utc())
        assert ledger.assigned_officer(session, "RX-0042").name == "王芳"
        last = journal.latest(session, limit=1)[0]
    assert last.data == {"officer_number": "310116", "previous_officer_number": "310115"}


def test_assigning_to_an_unknown_officer_names_the_officer(db, clock, assigned):
    with (
        pytest.raises(ledger.UnknownOfficer, match="officer 999 is not registered"),
        db.transaction() as session,
    ):
        ledger.assign(session, "RX-0042", "999", actor="c", at=clock.now_utc())


def test_recorder_under_repair_is_not_issued(db, clock, assigned):
    with db.transaction() as session:
        ledger.set_maintenance(
            session, "RX-0042", "under_repair", note="cracked lens", actor="t", at=clock.now_utc()
        )
    with (
        pytest.raises(ledger.LedgerError, match="under_repair: it may not be issued"),
        db.transaction() as session,
    ):
        ledger.issue(session, "RX-0042", 1, actor="bay", at=clock.now_utc())
    with db.transaction() as session:
        facts = ledger.ledger_facts(session, "RX-0042", is_key_proven=True)
    assert facts.maintenance_state == "under_repair"
    assert journal_types(db)[-1] == "device.maintenance_changed"


def test_unknown_maintenance_state_is_refused(db, clock, assigned):
    with (
        pytest.raises(ledger.LedgerError, match="must be one of in_service"),
        db.transaction() as session,
    ):
        ledger.set_maintenance(session, "RX-0042", "lost", actor="t", at=clock.now_utc())


def test_firmware_changes_are_kept_as_history(db, clock, assigned):
    with db.transaction() as session:
        assert not ledger.record_firmware(
            session, "RX-0042", "1.4.2", actor="bay", at=clock.now_utc()
        )
        clock.advance(60)
        assert ledger.record_firmware(session, "RX-0042", "1.5.0", actor="bay", at=clock.now_utc())
        versions = session.scalars(select(FirmwareSeen.version).order_by(FirmwareSeen.id)).all()
    assert versions == ["1.4.2", "1.5.0"]
    assert journal_types(db).count("device.firmware_recorded") == 1


# -- issue and return ---------------------------------------------------------------------------


def test_issued_recorder_is_held_by_its_officer_until_it_is_docked_again(db, clock, assigned):
    with db.transaction() as session:
        assert ledger.current_holder(session, "RX-0042") is None
        ledger.issue(session, "RX-0042", 2, actor="bay", at=clock.now_utc())
    with db.transaction() as session:
        assert ledger.current_holder(session, "RX-0042").officer_number == "310115"
    clock.advance(10 * 3600)
    with db.transaction() as session:
        custody = ledger.return_(session, "RX-0042", 4, actor="bay", at=clock.now_utc())
        assert ledger.current_holder(session, "RX-0042") is None
    assert (custody.bay, custody.return_bay) == (2, 4)
    assert custody.returned_at - custody.issued_at == (clock.now_utc() - START)


def test_issuing_a_recorder_already_out_is_refused(db, clock, assigned):
    with db.transaction() as session:
        ledger.issue(session, "RX-0042", 2, actor="bay", at=clock.now_utc())
    with (
        pytest.raises(ledger.LedgerError, match="already issued to officer 310115"),
        db.transaction() as session,
    ):
        ledger.issue(session, "RX-0042", 2, actor="bay", at=clock.now_utc())


def test_unassigned_recorder_is_not_issued(db, clock):
    with db.transaction() as session:
        add_device(session, clock)
    with pytest.raises(ledger.LedgerError, match="not assigned"), db.transaction() as session:
        ledger.issue(session, "RX-0042", 1, actor="bay", at=clock.now_utc())


def test_docking_a_recorder_that_was_not_out_returns_nothing_and_journals_nothing(
    db, clock, assigned
):
    before = journal_types(db)
    with db.transaction() as session:
        assert ledger.return_(session, "RX-0042", 1, actor="bay", at=clock.now_utc()) is None
    assert journal_types(db) == before


def test_history_of_a_device_lists_only_its_own_rows(db, clock, assigned):
    with db.transaction() as session:
        add_device(session, clock, "RX-OTHER")
        ledger.issue(session, "RX-0042", 1, actor="bay", at=clock.now_utc())
        history = ledger.device_history(session, "RX-0042")
    assert [e.type for e in history] == ["device.registered", "device.assigned", "recorder.issued"]


def test_ledger_facts_of_an_unknown_serial_say_unregistered(db):
    with db.transaction() as session:
        facts = ledger.ledger_facts(session, "RX-NOPE", is_key_proven=False)
    assert not facts.is_registered


def test_journal_rows_of_the_ledger_are_in_the_database_file_after_close(tmp_path, clock):
    db = open_database(tmp_path)
    with db.transaction() as session:
        add_officer(session, clock)
    db.close()
    raw = sqlite3.connect(tmp_path / DB_FILE_NAME)
    assert raw.execute("SELECT type FROM journal").fetchall() == [("officer.registered",)]

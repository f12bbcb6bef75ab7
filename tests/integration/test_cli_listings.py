"""Every listing the CLI offers reads its page through an index (EXPLAIN QUERY PLAN).

What makes a listing slow after a year of data is SQLite reading or sorting the whole
table: a plan line `SCAN <table>` with no index behind it, or `USE TEMP B-TREE FOR ORDER
BY`. A filtered listing must SEARCH an index on its filter; an unfiltered one may walk an
index (or the journal's rowid, its id) in the order it shows, stopping at the page's end.
"""

from __future__ import annotations

import sqlite3

import pytest

from dock import journal
from dock.cli.listings import CLIP_FILTERS, QUARANTINE_FILTERS, clips_sql, quarantine_sql
from dock.db.database import open_database
from dock.ledger import LEDGER_EVENT_PREFIXES


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    open_database(data_dir).close()
    connection = sqlite3.connect(data_dir / "dock.sqlite3")
    connection.execute("ANALYZE")
    yield connection
    connection.close()


def plan(raw, sql, params):
    return [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def journal_sql(device, prefixes):
    where, params = journal.latest_filter(device, prefixes)
    table = journal.latest_table(device, prefixes)
    return f"SELECT {journal.COLUMNS} FROM {table} {where} ORDER BY id DESC LIMIT ?", params


@pytest.mark.parametrize("by", sorted(CLIP_FILTERS))
def test_each_clip_listing_reads_its_page_through_its_own_index(raw, by):
    params = ([] if by == "" else ["x"]) + [200]
    lines = plan(raw, clips_sql(by), params)
    index = CLIP_FILTERS[by][1]
    assert not any("TEMP B-TREE" in line for line in lines), lines
    if by == "":
        assert lines == [f"SCAN clips USING INDEX {index}"]
    else:
        assert len(lines) == 1 and lines[0].startswith(f"SEARCH clips USING INDEX {index} ("), lines


@pytest.mark.parametrize("by", sorted(QUARANTINE_FILTERS))
def test_each_quarantine_listing_reads_its_page_through_an_index(raw, by):
    params = ([] if by == "" else ["x"]) + [200]
    lines = plan(raw, quarantine_sql(by), params)
    assert not any("TEMP B-TREE" in line for line in lines), lines
    if by == "":
        assert lines == ["SCAN quarantine"]  # newest first: the rowid backwards, LIMIT stops it
    else:
        assert lines[0].startswith("SEARCH quarantine USING INDEX ix_quarantine_device_serial")


def test_one_recorders_journal_and_ledger_search_the_device_index(raw):
    for prefixes in ((), LEDGER_EVENT_PREFIXES):
        sql, params = journal_sql("RX-1", prefixes)
        lines = plan(raw, sql, [*params, 200])
        assert lines[0].startswith("SEARCH journal USING INDEX ix_journal_device (device=?)")
        assert not any("TEMP B-TREE" in line for line in lines), lines


def test_the_whole_ledger_searches_the_type_index_never_the_whole_journal(raw):
    sql, params = journal_sql(None, LEDGER_EVENT_PREFIXES)
    lines = plan(raw, sql, [*params, 200])
    searches = [line for line in lines if line.startswith("SEARCH journal")]
    assert len(searches) == len(LEDGER_EVENT_PREFIXES), lines
    assert all("USING INDEX ix_journal_type_at (type>? AND type<?)" in line for line in searches)
    assert not any(line.startswith("SCAN journal") for line in lines), lines
    # The matches are sorted, not the journal: the ledger is a small share of it.


def test_reading_the_journal_after_a_cursor_searches_by_id(raw):
    sql = f"SELECT {journal.COLUMNS} FROM journal WHERE id > ? ORDER BY id LIMIT ?"
    assert plan(raw, sql, [10, 500]) == ["SEARCH journal USING INTEGER PRIMARY KEY (rowid>?)"]


def test_a_ledger_prefix_range_finds_exactly_the_rows_its_prefix_does():
    where, params = journal.latest_filter(None, ("device.", "recorder.issued"))
    assert params == ["device.", "device/", "recorder.issued", "recorder.issuee"]
    assert where.count("type >= ? AND type < ?") == 2

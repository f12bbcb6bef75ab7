"""How fast `dock` commands answer, on an empty dock and after years of data.

Each figure is a ratio to a baseline measured in the same run (bench._steady: two halves,
repeated when they disagree, with the load average at the start):
- `dock bays` on an empty dock and `dock --help`, against `python -c pass`;
- `dock audit verify --full` over 1,000,000 synthetic journal rows, and the incremental
  verify over the last 10,000 after it, in seconds against their targets and against the
  floor of hashing the same rows' contents in a Python loop;
- `dock clips` (its first page) over 1,000,000 clips, beyond the start-up of `dock bays`
  on the same data.
The synthetic rows are written with sqlite3's executemany straight into the schema the
dock's own migrations made; each journal row carries the hash dock.journal.row_hash gives
it, so the chain is intact and verify does all its work.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._steady import flatten, steady

ROWS = int(os.environ.get("BENCH_JOURNAL_ROWS", "1000000"))
CLIPS = int(os.environ.get("BENCH_CLIPS", "1000000"))
LATEST = 10_000
RUNS = 5  # per half, for the start-up figures; the fastest is taken
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 20_000


def _dock_argv() -> list[str]:
    script = Path(sys.executable).with_name("dock")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dock.cli"]


def _time(argv: list[str], runs: int = 1, *, fastest: bool = False) -> float:
    """Median (or fastest) wall seconds of `argv`, output discarded; a failing command raises.

    Start-up figures take the fastest run: a neighbour's burst only ever adds time."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples.append(time.perf_counter() - start)
    return min(samples) if fastest else statistics.median(samples)


def _config(tmp: Path) -> Path:
    config = tmp / "dock.toml"
    config.write_text('[dock]\ndata_dir = "data"\n', encoding="utf-8")
    return config


def _migrated(config: Path) -> Path:
    """The data folder with the schema the dock's own migrations make."""
    from dock.db.database import DB_FILE_NAME, open_database

    data_dir = config.parent / "data"
    open_database(data_dir).close()
    return data_dir / DB_FILE_NAME


PACKAGES = ("dock", "hw", "firmware_bridge")


ROOT = Path(__file__).resolve().parent.parent


def _byte_compile(*, remove: bool = False) -> None:
    """Compile the dock's own modules, as `pip install` does for an installed dock (or
    remove their .pyc). The checkout of `make setup` runs with PYTHONDONTWRITEBYTECODE=1
    (the Makefile sets it), so uncompiled modules are compiled again at every start."""
    if remove:
        for package in PACKAGES:
            for pyc in (ROOT / package).rglob("__pycache__/*.pyc"):
                pyc.unlink(missing_ok=True)
        return
    argv = [sys.executable, "-m", "compileall", "-q", *(str(ROOT / p) for p in PACKAGES)]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def start_up() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-commands-") as tmp:
        config = _config(Path(tmp))
        _migrated(config)
        dock = [*_dock_argv(), "--config", str(config)]
        baseline = [sys.executable, "-c", "pass"]
        # What a checkout under PYTHONDONTWRITEBYTECODE pays, reported beside the target.
        _byte_compile(remove=True)
        uncompiled_s = _time(
            ["env", "PYTHONDONTWRITEBYTECODE=1", *dock, "bays"], RUNS, fastest=True
        )
        _byte_compile()

        def vs_python(*args: str) -> float:
            return _time([*dock, *args], RUNS, fastest=True) / _time(baseline, RUNS, fastest=True)

        bays = steady(lambda: vs_python("bays"))
        help_ = steady(lambda: vs_python("--help"))
        pass_s = _time(baseline, RUNS, fastest=True)
    return {
        "name": "commands_start_up",
        "figures": {
            **flatten("bays_empty_vs_python", bays),
            **flatten("help_vs_python", help_),
            "python_c_pass_s": round(pass_s, 3),
            "bays_empty_uncompiled_vs_python": round(uncompiled_s / pass_s, 3),
        },
        "units": {
            "python_c_pass_s": "s (the baseline, fastest of 5)",
            "bays_empty_uncompiled_vs_python": "no .pyc of the dock's modules, fastest of 5",
        },
        "targets": {"bays_empty_vs_python": "<= 5", "help_vs_python": "<= 4"},
    }


# -- the journal ------------------------------------------------------------------------------


def _journal_rows(first_id: int, count: int, prev_hash: str) -> tuple[list[tuple], str]:
    from dock.journal import canonical_json, row_hash

    rows = []
    for id_ in range(first_id, first_id + count):
        at = EPOCH + timedelta(seconds=id_ * 3)
        bay = id_ % 8 + 1
        device = f"ZFY{id_ % 500:05d}"
        data = canonical_json({"from_state": "checking", "to_state": "ready", "n": id_})
        digest = row_hash(id_, at, "bay.state_changed", "dock", bay, device, data, prev_hash)
        stored_at = at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        rows.append(
            (id_, stored_at, "bay.state_changed", "dock", bay, device, data, prev_hash, digest)
        )
        prev_hash = digest
    return rows, prev_hash


def _append_journal(db_path: Path, first_id: int, count: int, prev_hash: str) -> str:
    """Append fast (synchronous OFF), then flush to disk before any figure is taken.

    The service writes each row with synchronous FULL, so its rows are on disk when a verify
    starts; unflushed synthetic rows would otherwise be written out by the verify's own
    close (the WAL checkpoint syncs the database file), about 0.4 s of the bench's debt."""
    raw = sqlite3.connect(db_path)
    try:
        raw.execute("PRAGMA synchronous = OFF")
        done = 0
        while done < count:
            rows, prev_hash = _journal_rows(first_id + done, min(BATCH, count - done), prev_hash)
            with raw:
                raw.executemany(
                    "INSERT INTO journal (id, at_utc, type, actor, bay, device, data, prev_hash,"
                    " hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            done += len(rows)
    finally:
        raw.close()  # the last connection: checkpoints the WAL into the file
    _fsync(db_path)
    return prev_hash


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _hash_floor(db_path: Path, limit: int) -> float:
    """Seconds to read `limit` rows and SHA-256 their text in a Python loop: what any verify
    costs at least."""
    start = time.perf_counter()
    with sqlite3.connect(db_path) as raw:
        cursor = raw.execute(
            "SELECT id, at_utc, type, actor, bay, device, data, prev_hash FROM journal "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        sha256 = hashlib.sha256
        for row in cursor:
            sha256(repr(row).encode()).hexdigest()
    return time.perf_counter() - start


def _verify_argv(config: Path, full: bool) -> list[str]:
    argv = [*_dock_argv(), "--config", str(config), "audit", "verify"]
    if full and _has_full_option(config):
        argv.append("--full")
    return argv


def _has_full_option(config: Path) -> bool:
    usage = subprocess.run(
        [*_dock_argv(), "--config", str(config), "audit", "verify", "--help"],
        capture_output=True,
        text=True,
    ).stdout
    return "--full" in usage


def journal_verify(rows: int = ROWS) -> dict:
    from dock.journal import GENESIS_HASH

    with tempfile.TemporaryDirectory(prefix="bench-commands-", dir="/var/tmp") as tmp:
        config = _config(Path(tmp))
        db_path = _migrated(config)
        start = time.perf_counter()
        head = _append_journal(db_path, 1, rows, GENESIS_HASH)
        made_s = time.perf_counter() - start
        full_s = steady(lambda: _time(_verify_argv(config, full=True)))
        floor_full_s = _hash_floor(db_path, rows)
        _append_journal(db_path, rows + 1, LATEST, head)  # the checkpoint is at `rows` now
        start = time.perf_counter()  # once: a second run would find nothing new
        incremental = subprocess.run(
            _verify_argv(config, full=False), capture_output=True, text=True, check=True
        )
        incremental_s = time.perf_counter() - start
        floor_latest_s = _hash_floor(db_path, LATEST)
        bays_s = _time([*_dock_argv(), "--config", str(config), "bays"], RUNS)
    return {
        "name": "journal_verify_1m_rows",
        "figures": {
            **flatten("full_s", full_s),
            "full_vs_target": round(full_s["value"] / 10, 3),
            "full_vs_hash_floor": round(full_s["value"] / floor_full_s, 2),
            "incremental_first_line": incremental.stdout.strip().splitlines()[0][:120],
            "incremental_s": round(incremental_s, 3),
            "incremental_vs_target": round(incremental_s / 0.5, 3),
            "incremental_beyond_start_up_s": round(incremental_s - bays_s, 3),
            "full_beyond_start_up_s": round(full_s["value"] - bays_s, 3),
            "dock_bays_same_data_s": round(bays_s, 3),
            "hash_floor_latest_s": round(floor_latest_s, 3),
            "rows": rows + LATEST,
            "synthetic_rows_made_s": round(made_s, 1),
        },
        "units": {
            "full_s": "s (dock audit verify --full, whole process)",
            "full_vs_target": "ratio to 10 s (at most 1)",
            "incremental_vs_target": "ratio to 0.5 s (at most 1)",
            "full_vs_hash_floor": "ratio to reading and hashing the same rows in a loop",
        },
        "targets": {"full_vs_target": "<= 1", "incremental_vs_target": "<= 1"},
    }


# -- clips ------------------------------------------------------------------------------------


def _clip_rows(columns: list[tuple[str, bool]], first: int, last: int) -> list[tuple]:
    """Plausible values for every column of clips first..last-1 (none left NULL)."""
    constant = {
        "agency": "City Management",
        "dock_id": "dock-1",
        "verification": "device_hash",
        "time_source": "listing",
        "is_listed": 1,
    }
    base = [
        constant.get(name, 0 if name.startswith("is_") or numeric else "")
        for name, numeric in columns
    ]
    where = {name: n for n, (name, _) in enumerate(columns)}
    stamps = [n for n, (name, _) in enumerate(columns) if name.endswith("_utc")]
    bay, serial_at, officer = where["bay"], where["device_serial"], where["officer_number"]
    sha, path, size = where["sha256"], where["source_path"], where["size_bytes"]
    rows = []
    for i in range(first, last):
        row = base.copy()
        stamp = (EPOCH + timedelta(seconds=i * 30)).strftime("%Y-%m-%d %H:%M:%S.000000")
        for n in stamps:
            row[n] = stamp
        serial = f"ZFY{i % 500:05d}"
        row[bay], row[serial_at], row[officer] = i % 8 + 1, serial, f"{i % 500:06d}"
        row[sha] = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
        row[path], row[size] = f"DCIM/20250101/20250101_000000_{serial}_{i}.MP4", 50_000_000
        rows.append(tuple(row))
    return rows


def _make_clips(db_path: Path, count: int) -> None:
    """Bulk insert with the clip indexes dropped, then rebuilt from their own definitions
    (as the migrations made them), which is many times faster than growing them row by row."""
    with sqlite3.connect(db_path) as raw:
        raw.execute("PRAGMA synchronous = OFF")
        columns = [
            (name, any(t in kind.upper() for t in ("INT", "FLOAT", "REAL", "NUMERIC")))
            for _, name, kind, _notnull, _default, pk in raw.execute("PRAGMA table_info(clips)")
            if not pk
        ]
        indexes = raw.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'clips' "
            "AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            raw.execute(f'DROP INDEX "{name}"')
        names = ", ".join(name for name, _ in columns)
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO clips ({names}) VALUES ({marks})"
        for first in range(0, count, BATCH):
            raw.executemany(sql, _clip_rows(columns, first, min(first + BATCH, count)))
        for _, definition in indexes:
            raw.execute(definition)
        raw.execute("ANALYZE")


def clips_first_page(count: int = CLIPS) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-commands-", dir="/var/tmp") as tmp:
        config = _config(Path(tmp))
        db_path = _migrated(config)
        start = time.perf_counter()
        _make_clips(db_path, count)
        made_s = time.perf_counter() - start
        dock = [*_dock_argv(), "--config", str(config)]
        beyond = steady(lambda: _time([*dock, "clips"], 3) - _time([*dock, "bays"], 3), attempts=2)
    return {
        "name": "clips_first_page_1m",
        "figures": {
            **flatten("beyond_start_up_s", beyond),
            "beyond_vs_target": round(beyond["value"] / 0.3, 3),
            "clips": count,
            "synthetic_clips_made_s": round(made_s, 1),
        },
        "units": {
            "beyond_start_up_s": "s: `dock clips` minus `dock bays` on the same data (medians of 3)"
        },
        "targets": {"beyond_vs_target": "<= 1"},
    }


def run() -> list[dict]:
    return [start_up(), journal_verify(), clips_first_page()]

"""SIGKILL the offloading dock at random instants: after every restart nothing is lost.

A child process (offload_child.py) runs the real dock service and a simulated recorder whose
card is a directory on disk. The test kills it at least KILLS times at random points of a
docking (start, listing, copying, fsync, placing, commit, deletion), then, with the child
dead, checks from the outside:
  1. every object in the store hashes to its name, sits at objects/ab/cd/<name>, read-only;
  2. every Clip row has its object, and its size and source path are the clip's; an object
     without a row is allowed only while that clip is still on the card, byte for byte
     (killed between placing the object and committing its row);
  3. the journal verifies, and `clip.stored` rows and Clip rows are one-to-one by SHA-256;
  4. every clip ever recorded is on the card with its original bytes, or in the store with a
     Clip row (or both); nothing else is on the card or in the store;
  5. a clip leaves the card only after a committed `clip.delete_requested` row, itself after
     the clip's `clip.stored` row; `clip.deleted_from_recorder` confirms a request;
  6. temp files may be left by a kill, but the next start removes exactly those.
When the card runs low, new clips are recorded on it, so later kills still hit copying.
One uninterrupted docking at the end must take every clip off and leave the card empty.

A SIGKILL is a process crash, not a power cut: the page cache survives it, so this proves
the order of the steps (nothing deleted or lost at any instant), not that each fsync lands.

CRASHTEST_SEED picks the kill instants (printed with the summary, to replay a failure).
A damaged real-layout card is docked under kills in test_damaged_offload_crash.py.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from dock import journal
from dock.db.database import open_database
from dock.db.models import Clip
from dock.offload.store import sha256_of_file

# Kills per card kind (at least 50 in all); runs whose docking ended before the kill do not count.
KILLS = {"dir": 50, "fat32": 12}
EARLY_KILL_SHARE = 0.15  # kills during start-up and the handshake, before the bay docks
REFILL_BELOW_BYTES = 12_000_000
SEED = int(os.environ.get("CRASHTEST_SEED", "20261123"))
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 120


@dataclass
class Tally:
    kills: int = 0
    runs_done_before_kill: int = 0  # then killed while stopping, or not at all
    refills: int = 0
    phases: Counter = field(default_factory=Counter)
    swept_temp_files: int = 0
    deletions_unconfirmed: int = 0  # requests a kill cut before the confirmation row


@dataclass
class StoreState:
    """What the checks saw; `verified` are objects already rehashed (never rewritten)."""

    verified: set[str] = field(default_factory=set)
    last_journal_id: int = 0
    temp_files: set[str] = field(default_factory=set)
    orphans: set[str] = field(default_factory=set)


def stored_objects(store_dir: Path) -> dict[str, Path]:
    objects_dir = store_dir / "objects"
    found = {}
    for path in objects_dir.rglob("*"):
        if path.is_file() or path.is_symlink():
            found[path.name] = path
    return found


def check_store_objects(
    store_dir: Path, state: StoreState, *, rehash_all: bool = False
) -> dict[str, Path]:
    """Every object lies under its own hash, plain and read-only, and hashes to its name
    (each is re-hashed once, or every time with rehash_all)."""
    objects = stored_objects(store_dir)
    for sha, path in objects.items():
        assert path.relative_to(store_dir / "objects").parts == (sha[:2], sha[2:4], sha)
        assert path.is_file() and not path.is_symlink()
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), path
        if rehash_all or sha not in state.verified:
            assert sha256_of_file(path) == sha, f"object {sha} does not hash to its name"
            state.verified.add(sha)
    return objects


def read_dock(rig) -> tuple[dict[str, Clip], list]:
    """The Clip rows by hash and every journal entry, once the journal verifies intact and
    its clip.stored rows agree with the Clip rows."""
    db = open_database(rig.data_dir)
    try:
        with db.transaction() as session:
            rows = {r.sha256: r for r in session.scalars(select(Clip))}
            session.expunge_all()
            verdict = journal.verify(session)
            entries = journal.read_after(session, 0, limit=10**7)
    finally:
        db.close()
    assert verdict.is_intact, verdict.summary()
    stored_rows = Counter(e.data["sha256"] for e in entries if e.type == "clip.stored")
    assert stored_rows == Counter(list(rows)), "clip.stored journal rows and Clip rows disagree"
    return rows, entries


def check_invariants(rig, state: StoreState, tally: Tally, *, rehash_all: bool = False) -> str:
    """Assert the rules in the module docstring; return the phase the kill hit."""
    store_dir = rig.store_dir
    if not store_dir.exists():
        return "start-up (no store yet)"
    assert sorted(p.name for p in store_dir.iterdir()) == ["objects", "tmp"]
    objects = check_store_objects(store_dir, state, rehash_all=rehash_all)  # rule 1
    rows, entries = read_dock(rig)  # rule 3
    manifest = rig.manifest()
    sizes = {c.sha256.hex(): c.size_bytes for c in rig.clips}
    card = rig.card_contents()
    for sha, row in rows.items():  # rule 2
        assert sha in objects, f"Clip row {sha} has no object in the store"
        assert objects[sha].stat().st_size == row.size_bytes == sizes[sha]
        assert manifest[row.source_path] == sha
    orphans = set(objects) - set(rows)
    assert orphans <= set(card.values()), "an object without a Clip row whose clip left the card"
    for path, sha in card.items():  # rule 4: the card holds originals only, unchanged
        assert manifest.get(path) == sha, f"{path} on the card is not the clip recorded there"
    for path, sha in manifest.items():
        assert path in card or sha in rows, f"clip {path} is neither on the card nor stored"
    assert set(objects) <= set(manifest.values())
    first_stored: dict[str, int] = {}
    requested: set[str] = set()
    confirmed: set[str] = set()
    for e in entries:  # rule 5
        sha = e.data.get("sha256")
        if e.type == "clip.stored":
            first_stored.setdefault(sha, e.id)
        elif e.type == "clip.delete_requested":
            assert sha in first_stored, f"deletion of clip {sha} asked before it was stored"
            requested.add(sha)
        elif e.type == "clip.deleted_from_recorder":
            assert sha in requested, f"clip {sha} deleted from the recorder with no request"
            confirmed.add(sha)
    for path, sha in manifest.items():
        assert path in card or sha in requested, f"{path} left the card with no journal row"
    tally.deletions_unconfirmed = len(requested - confirmed)
    new = [e for e in entries if e.id > state.last_journal_id]
    temp_files = {p.name for p in (store_dir / "tmp").iterdir()}
    phase = new[-1].type if new else "start-up (nothing journaled)"
    if temp_files - state.temp_files:
        phase += " + temp file (copying)"
    if orphans - state.orphans:
        phase += " + object without row (placed, not committed)"
    state.last_journal_id = entries[-1].id if entries else 0
    state.temp_files, state.orphans = temp_files, orphans
    return phase


def check_sweep(child, temp_files_before: set[str], rig, tally: Tally) -> None:
    """Rule 6: a child that opened the store removed exactly the temp files left before it."""
    swept = child.line("swept ")
    if swept is None:
        return
    assert int(swept.split()[1]) == len(temp_files_before)
    tally.swept_temp_files += len(temp_files_before)
    still_there = {p.name for p in (rig.store_dir / "tmp").iterdir()}
    assert not still_there & temp_files_before, "leftover temp files survived a restart"


def run_uninterrupted(rig, state: StoreState, tally: Tally) -> tuple[str, float]:
    """One whole docking; (its `done` line, seconds from plugged to done)."""
    child = rig.start_child()
    child.finish(RUN_TIMEOUT_S)
    check_sweep(child, state.temp_files, rig, tally)
    plugged_s, done_s = child.when("plugged"), child.when("done")
    assert plugged_s is not None and done_s is not None
    done = child.line("done")
    assert done is not None
    return done, done_s - plugged_s


def assert_everything_came_off(rig, state: StoreState, tally: Tally, done: str) -> None:
    assert done.startswith("done ready"), done
    check_invariants(rig, state, tally, rehash_all=True)
    assert rig.card_contents() == {}
    objects = stored_objects(rig.store_dir)
    assert set(objects) == set(rig.manifest().values())
    assert list((rig.store_dir / "tmp").iterdir()) == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("card_kind", ["dir", "fat32"])
def test_sigkill_at_any_instant_loses_no_clip_and_keeps_store_db_and_journal_in_agreement(
    make_rig, card_kind
):
    began_s = time.monotonic()
    rng = random.Random(f"{SEED}-{card_kind}")
    tally = Tally()
    kills = KILLS[card_kind]

    # An uninterrupted docking on a first card measures how long one takes.
    calibration = make_rig(card_kind)
    calibration.add_batch()
    calibration.start_child("--pair").finish(START_TIMEOUT_S)
    full_bytes = calibration.card_bytes()
    done, offload_s = run_uninterrupted(calibration, StoreState(), Tally())
    assert_everything_came_off(calibration, StoreState(), Tally(), done)
    seconds_per_byte = offload_s / full_bytes

    rig = make_rig(card_kind)
    rig.add_batch()
    rig.start_child("--pair").finish(START_TIMEOUT_S)
    state = StoreState()
    check_invariants(rig, state, tally)
    startup_s = 1.0
    runs = 0
    while tally.kills < kills:
        runs += 1
        assert runs <= 3 * kills, f"only {tally.kills} kills landed in {runs - 1} runs"
        if rig.card_bytes() < REFILL_BELOW_BYTES:
            rig.add_batch()
            tally.refills += 1
        temp_files_before = state.temp_files
        card_bytes = rig.card_bytes()
        expected_s = seconds_per_byte * card_bytes
        child = rig.start_child()
        if rng.random() < EARLY_KILL_SHARE:
            time.sleep(rng.uniform(0, startup_s * 1.5))
        else:
            plugged_s = child.wait_for("plugged", START_TIMEOUT_S)
            if plugged_s is not None:
                startup_s = plugged_s
                time.sleep(rng.uniform(0, expected_s))
        was_running = child.kill()
        if not was_running:
            assert child.proc.returncode == 0, child.stderr_path.read_text()[-3000:]
        check_sweep(child, temp_files_before, rig, tally)
        phase = check_invariants(rig, state, tally)
        plugged_s, done_s = child.when("plugged"), child.when("done")
        if plugged_s is not None and done_s is not None:  # not a kill mid-offload
            tally.runs_done_before_kill += 1
            # The machine is slower or faster than at calibration: learn from this run.
            seconds_per_byte = (seconds_per_byte + (done_s - plugged_s) / card_bytes) / 2
            continue
        tally.kills += 1
        tally.phases[phase] += 1

    done, _ = run_uninterrupted(rig, state, tally)
    assert_everything_came_off(rig, state, tally, done)
    summary = {
        "crashtest_seed": SEED,
        "card": card_kind,
        "kills": tally.kills,
        "runs": runs + 1,
        "runs_done_before_kill": tally.runs_done_before_kill,
        "clips": len(rig.clips),
        "refills": tally.refills,
        "temp_files_swept": tally.swept_temp_files,
        "deletion_requests_unconfirmed": tally.deletions_unconfirmed,
        "seconds": round(time.monotonic() - began_s, 1),
        "phases_hit": dict(tally.phases.most_common()),
    }
    print(json.dumps(summary))
    for made in (calibration, rig):  # a passing run leaves no gigabyte behind in /tmp
        shutil.rmtree(made.workdir)

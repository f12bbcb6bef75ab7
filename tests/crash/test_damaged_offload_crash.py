"""SIGKILL the dock while it offloads a DAMAGED card: the evidence rules hold at every instant.

The card (tests/crash/damaged_card.py) is a real FAT32 image with broken directories,
cross-linked clips, a chain longer than its size, an unlisted file, a GBK 8.3 name and a
zero-length file, served by the simulated recorder as it is (`recorder-sim --card`: listed
from the card, no device hashes, changed only by exact deletions). Two phases of kills:
  1. broken: the walk meets both broken directories, so the dock must delete nothing; the
     whole image stays byte for byte as it was after every kill;
  2. repaired (the test ends the loop and re-points SUB, as an fsck would): the walk is
     whole and clean clips are freed, so kills also land between requests and deletions.
After every kill, from the outside: the store's objects hash to their names; the journal
verifies and its `clip.stored` rows match the Clip rows; every Clip row is a readable file
of the card; a flagged file (cross-linked, mis-sized chain, not listed) is never asked to be
deleted and its directory entry and clusters are unchanged; a file leaves the card only
after its committed `clip.delete_requested` row; each broken directory has at most one
`card.directory_unreadable` row. After a last uninterrupted docking, every readable file is
in the store with the verification it must have (flagged ones `not_verified`), and the card
holds exactly the flagged files.

CRASHTEST_SEED picks the kill instants; CRASHTEST_DAMAGED_KILLS the kills per phase.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.crash import damaged_card
from tests.crash.test_offload_crash import (
    EARLY_KILL_SHARE,
    RUN_TIMEOUT_S,
    START_TIMEOUT_S,
    StoreState,
    Tally,
    check_store_objects,
    check_sweep,
    read_dock,
    stored_objects,
)

KILLS_PER_PHASE = int(os.environ.get("CRASHTEST_DAMAGED_KILLS", "6"))
SEED = int(os.environ.get("CRASHTEST_SEED", "20261123"))
KIND = "fat32-damaged"
# The pace is learnt from walks and copies; once repaired, the deletions come after them.
REPAIRED_WINDOW = 1.6


class Phase:
    """What the card held when a phase began: the truth every later look is held to."""

    def __init__(self, rig, card: damaged_card.DamagedCard) -> None:
        self.card = card
        self.truth = rig.card_contents()  # card path (as the recorder names it) -> sha256
        self.image_digest = damaged_card.image_digest(card.image)
        self.slots = {p: damaged_card.slot_of(card.image, p) for p in card.protected}
        assert None not in self.slots.values()
        assert set(self.truth.values()) <= set(card.expected)


def check(rig, phase: Phase, state: StoreState, tally: Tally) -> str:
    """Assert the rules in the module docstring; return the phase of the docking it hit."""
    card = phase.card
    if not rig.store_dir.exists():
        return "start-up (no store yet)"
    objects = check_store_objects(rig.store_dir, state)
    rows, entries = read_dock(rig)
    assert set(objects) <= set(card.expected), "an object that is no file of the card"
    flagged_at_walk = set(card.protected.values()) - {card.protected[damaged_card.X]}
    for sha, row in rows.items():
        assert sha in objects, f"Clip row {sha} has no object in the store"
        assert row.size_bytes == objects[sha].stat().st_size
        if sha in flagged_at_walk:  # X is known cross-linked only after the walk
            assert row.verification == "not_verified", row.source_path
    now = rig.card_contents()
    for path, sha in now.items():
        assert phase.truth.get(path) == sha, f"{path} on the card is not what it held"
    for path, sha in phase.truth.items():
        assert path in now or sha in rows, f"{path} is neither on the card nor stored"
    orphans = set(objects) - set(rows)
    assert orphans <= set(now.values()), "an object without a Clip row whose file left the card"
    if not card.is_repaired:
        assert damaged_card.image_digest(card.image) == phase.image_digest, "the card changed"
    for path in card.protected:
        assert damaged_card.slot_of(card.image, path) == phase.slots[path], f"{path} changed"
    stored_at: dict[str, int] = {}
    requested: set[str] = set()
    confirmed: set[str] = set()
    unreadable: Counter = Counter()
    for e in entries:
        sha = e.data.get("sha256")
        if e.type == "clip.stored":
            stored_at.setdefault(sha, e.id)
        elif e.type == "clip.delete_requested":
            assert card.is_repaired, "a deletion asked while part of the card was unreadable"
            assert sha in stored_at, f"deletion of {sha} asked before it was stored"
            assert sha not in card.protected.values(), f"deletion of flagged {sha} asked"
            requested.add(e.data["source_path"])
        elif e.type == "clip.deleted_from_recorder":
            assert e.data["source_path"] in requested
            confirmed.add(e.data["source_path"])
        elif e.type == "card.directory_unreadable":
            unreadable[e.data["source_path"]] += 1
    assert set(unreadable) <= set(card.broken_dirs), unreadable
    assert max(unreadable.values(), default=0) <= 1, f"journaled more than once: {unreadable}"
    for path in set(phase.truth) - set(now):
        assert path in requested, f"{path} left the card with no delete request journaled"
    tally.deletions_unconfirmed = len(requested - confirmed)
    new = [e for e in entries if e.id > state.last_journal_id]
    state.last_journal_id = entries[-1].id if entries else 0
    temp_files = {p.name for p in (rig.store_dir / "tmp").iterdir()}
    hit = new[-1].type if new else "start-up (nothing journaled)"
    if temp_files - state.temp_files:
        hit += " + temp file (copying)"
    state.temp_files = temp_files
    return hit


def broken_dirs_journaled(rig) -> Counter:
    _, entries = read_dock(rig)
    return Counter(e.data["source_path"] for e in entries if e.type == "card.directory_unreadable")


def dock_once(rig, state: StoreState, tally: Tally) -> tuple[str, float]:
    child = rig.start_child()
    child.finish(RUN_TIMEOUT_S)
    check_sweep(child, state.temp_files, rig, tally)
    plugged_s, done_s, done = child.when("plugged"), child.when("done"), child.line("done")
    assert plugged_s is not None and done_s is not None and done is not None
    return done, done_s - plugged_s


def new_rig(make_rig) -> tuple[object, damaged_card.DamagedCard]:
    rig = make_rig(KIND)
    card = damaged_card.make_damaged_card(rig.card, "ZFY90001")
    rig.serve_damaged_card()
    rig.start_child("--pair").finish(START_TIMEOUT_S)
    return rig, card


def kill_at_random(rig, phase: Phase, state: StoreState, tally: Tally, rng, pace) -> None:
    """Kill dockings until KILLS_PER_PHASE landed mid-docking; `pace` is [seconds per byte]."""
    landed, runs, startup_s = 0, 0, 1.0
    while landed < KILLS_PER_PHASE:
        runs += 1
        assert runs <= 3 * KILLS_PER_PHASE, f"only {landed} kills landed in {runs - 1} runs"
        temp_files_before, card_bytes = state.temp_files, max(rig.card_bytes(), 1)
        window = REPAIRED_WINDOW if phase.card.is_repaired else 1.0
        child = rig.start_child()
        if rng.random() < EARLY_KILL_SHARE:
            time.sleep(rng.uniform(0, startup_s * 1.5))
        else:
            plugged_s = child.wait_for("plugged", START_TIMEOUT_S)
            if plugged_s is not None:
                startup_s = plugged_s
                time.sleep(rng.uniform(0, window * pace[0] * card_bytes))
        if not child.kill():
            assert child.proc.returncode == 0, child.stderr_path.read_text()[-3000:]
        check_sweep(child, temp_files_before, rig, tally)
        hit = check(rig, phase, state, tally)
        plugged_s, done_s = child.when("plugged"), child.when("done")
        if plugged_s is not None and done_s is not None:
            tally.runs_done_before_kill += 1
            pace[0] = (pace[0] + (done_s - plugged_s) / card_bytes) / 2
            continue
        landed += 1
        tally.kills += 1
        tally.phases[f"{'repaired' if phase.card.is_repaired else 'broken'}: {hit}"] += 1


@pytest.mark.timeout(300)
def test_sigkill_while_offloading_a_damaged_card_never_frees_or_changes_a_flagged_file(
    make_rig,
):
    began_s = time.monotonic()
    rng = random.Random(f"{SEED}-{KIND}")
    tally = Tally()

    # A first card docked without a kill: what a broken card yields, and how long it takes.
    calibration, cal_card = new_rig(make_rig)
    cal_phase = Phase(calibration, cal_card)
    cal_state = StoreState()
    done, offload_s = dock_once(calibration, cal_state, Tally())
    check(calibration, cal_phase, cal_state, Tally())
    rows, _ = read_dock(calibration)
    reachable = set(cal_card.expected) - {cal_card.in_broken_dirs[f"{damaged_card.SUB}/INNER.MP4"]}
    assert set(rows) == reachable, done
    assert broken_dirs_journaled(calibration) == {damaged_card.SUB: 1, damaged_card.LOOP: 1}
    pace = [offload_s / calibration.card_bytes()]

    rig, card = new_rig(make_rig)
    state = StoreState()
    phase = Phase(rig, card)
    check(rig, phase, state, tally)
    kill_at_random(rig, phase, state, tally, rng, pace)
    # The kills may all land before the walk meets a broken directory: one whole docking of
    # the broken card records each exactly once, whatever the kills left journaled.
    dock_once(rig, state, tally)
    check(rig, phase, state, tally)
    assert broken_dirs_journaled(rig) == {damaged_card.SUB: 1, damaged_card.LOOP: 1}

    damaged_card.repair(card)
    phase = Phase(rig, card)
    assert set(phase.truth.values()) == set(card.expected), "the repaired walk misses a file"
    kill_at_random(rig, phase, state, tally, rng, pace)

    done, _ = dock_once(rig, state, tally)
    unconfirmed_before_last = tally.deletions_unconfirmed
    state.verified.clear()  # rehash every object once more
    check(rig, phase, state, tally)
    assert tally.deletions_unconfirmed == 0, "a delete request still unconfirmed at the end"
    rows, _ = read_dock(rig)
    assert {sha: r.verification for sha, r in rows.items()} == card.expected, done
    assert set(stored_objects(rig.store_dir)) == set(card.expected)
    kept = rig.card_contents()
    assert sorted(kept.values()) == sorted(card.protected.values()), kept
    assert broken_dirs_journaled(rig) == {damaged_card.SUB: 1, damaged_card.LOOP: 1}
    assert list((rig.store_dir / "tmp").iterdir()) == []
    summary = {
        "crashtest_seed": SEED,
        "card": KIND,
        "kills": tally.kills,
        "runs_done_before_kill": tally.runs_done_before_kill,
        "files": len(card.expected),
        "kept_on_card": len(kept),
        "temp_files_swept": tally.swept_temp_files,
        "deletion_requests_unconfirmed_before_last": unconfirmed_before_last,
        "last_docking": done,
        "seconds": round(time.monotonic() - began_s, 1),
        "phases_hit": dict(tally.phases.most_common()),
    }
    print(json.dumps(summary))
    for made in (calibration, rig):
        shutil.rmtree(Path(made.workdir))

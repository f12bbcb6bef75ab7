"""SIGKILL a process walking a damaged card at random instants: the card never changes, and
every walk after a kill finds exactly what an uninterrupted walk finds.

The card is a real mkfs.vfat/mtools image with the faults of a dropped recorder at once: a
looping directory, a subdirectory pointing at the root, cross-linked clips, a chain longer
than its size, a bad backup boot sector. The reader opens the image read-only, so a kill at
any instant of a walk (directory chains, the ownership map, hashing) must leave the image
byte for byte as it was; and the walk is bounded, so each run ends by itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests import cardgen

KILLS = 20
SEED = int(os.environ.get("CRASHTEST_SEED", "20261123"))
CHILD = Path(__file__).with_name("walk_child.py")
ROOT = Path(__file__).resolve().parents[2]
DAY = "DCIM/20261123"


def damaged_card(workdir: Path) -> Path:
    clips = cardgen.shift_clips(datetime(2026, 11, 23, 0, 30, tzinfo=UTC), 12, size_bytes=3_000_000)
    card = cardgen.make_real_card(workdir / "card.img", clips=clips, cluster_bytes=512)
    cardgen.add_files(
        card,
        {
            f"{DAY}/SUB/INNER.MP4": b"i" * 5000,
            "DCIM/20261124/LOOP/A.MP4": b"a" * 3000,
            "DCIM/20261124/X.MP4": b"x" * 2000,
            "DCIM/20261124/Y.MP4": b"y" * 2000,
        },
    )
    cardgen.point_fat32_directory_at(card.image, f"{DAY}/SUB", "")
    cardgen.loop_fat32_directory(card.image, "DCIM/20261124/LOOP")
    cardgen.cross_link_fat32(card.image, "DCIM/20261124/X.MP4", "DCIM/20261124/Y.MP4")
    first = cardgen.shift_clips(datetime(2026, 11, 23, 0, 30, tzinfo=UTC), 1)[0]
    cardgen.lengthen_fat32_chain(card.image, cardgen.clip_path(first, cardgen.SERIAL))
    cardgen.damage_fat32_backup_boot_sector(card.image)
    return card.image


def fingerprint(image: Path) -> tuple[int, int, str]:
    st = image.stat()
    digest = hashlib.sha256()
    with open(image, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return st.st_size, st.st_mtime_ns, digest.hexdigest()


def start(image: Path, result: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(image), str(result)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def run_whole(image: Path, result: Path) -> tuple[dict, float]:
    """One uninterrupted walk: its result and how long the walk itself took."""
    child = start(image, result)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "walking"
    began = time.monotonic()
    _out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err[-3000:]
    return json.loads(result.read_text()), time.monotonic() - began


@pytest.mark.timeout(300)
def test_sigkill_during_walks_of_a_damaged_card_changes_nothing_and_walks_agree(tmp_path):
    rng = random.Random(f"{SEED}-walk")
    image = damaged_card(tmp_path)
    before = fingerprint(image)
    result = tmp_path / "result.json"
    expected, whole_s = run_whole(image, result)
    broken = {p for p, (what, _) in expected["entries"].items() if what == "broken"}
    assert broken == {f"{DAY}/SUB", "DCIM/20261124/LOOP"}
    assert set(expected["late"]) == {"DCIM/20261124/X.MP4"}
    assert len(expected["volume"]) == 1
    kills = 0
    for _ in range(3 * KILLS):
        if kills == KILLS:
            break
        result.unlink(missing_ok=True)
        child = start(image, result)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "walking"
        time.sleep(rng.uniform(0, whole_s))
        child.kill()
        child.wait(30)
        assert fingerprint(image) == before, "a killed walk changed the card"
        if result.exists():  # the walk ended before the kill: not counted
            assert json.loads(result.read_text()) == expected
            continue
        kills += 1
    assert kills == KILLS, f"only {kills} kills landed inside a walk"
    again, _ = run_whole(image, result)
    assert again == expected
    assert fingerprint(image) == before
    print(json.dumps({"crashtest_seed": SEED, "walk_kills": kills, "walk_s": round(whole_s, 2)}))

"""Real-layout recorder cards, FAT32 and exFAT, read back exactly as `tests/cardgen` wrote
them: every clip byte-exact, the recorder's times as aware UTC, important clips read-only,
the serial as the volume label; and a walk's time budget spent only inside the walk."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hw.exfat import ExfatImageMassStorage
from hw.fat32 import FatImageMassStorage
from hw.mass_storage import DirectoryMassStorage, Entry, EntryKind, WalkLimits
from tests import cardgen
from tests.cardgen import ExfatLayout, Fat32Layout

READERS = {"fat32": FatImageMassStorage, "exfat": ExfatImageMassStorage}
FIRST = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)


def needs(fs: str) -> None:
    reason = cardgen.exfat_missing_reason() if fs == "exfat" else None
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module", params=["fat32", "exfat"])
def real_card(request, tmp_path_factory) -> cardgen.CardManifest:
    needs(request.param)
    clips = cardgen.shift_clips(FIRST, 5, size_bytes=70_001, important_every=2)
    clips.append(cardgen.ClipSpec(FIRST + timedelta(hours=2), "WAV", 0, 0))  # a 0-byte note
    image = tmp_path_factory.mktemp(request.param) / "card.img"
    return cardgen.make_real_card(image, fs=request.param, clips=clips, cluster_bytes=4096)


def copy_of(card: cardgen.CardManifest, tmp_path: Path) -> Path:
    image = tmp_path / "card.img"
    subprocess.run(["cp", "--sparse=always", str(card.image), str(image)], check=True)
    return image


def walk_files(volume) -> dict[str, Entry]:
    return {e.path: e for e in volume.walk() if e.kind is EntryKind.FILE}


def sha(volume, entry: Entry) -> str:
    with volume.open(entry) as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_a_real_layout_card_reads_back_exactly_what_was_written(real_card):
    volume = READERS[real_card.fs](real_card.image)
    files = walk_files(volume)
    assert set(files) == set(real_card.by_path())
    for want in real_card.files:
        got = files[want.path]
        assert (got.size_bytes, sha(volume, got)) == (want.size_bytes, want.sha256)
        assert got.modified_utc == want.modified_utc and got.modified_utc.tzinfo is UTC
        assert got.is_readonly is want.is_readonly
        assert got.problem is None
    assert volume.volume_label() == real_card.label
    assert volume.volume_problems() == [] and volume.late_problems() == {}
    volume.close()


def test_important_clips_are_read_only_under_important(real_card):
    volume = READERS[real_card.fs](real_card.image)
    files = walk_files(volume)
    important = {p for p, e in files.items() if e.is_readonly}
    assert important and important == {p for p in files if p.startswith("IMPORTANT/")}
    volume.close()


def test_zero_length_files_are_ordinary_files(real_card):
    volume = READERS[real_card.fs](real_card.image)
    (empty,) = [e for e in walk_files(volume).values() if e.size_bytes == 0]
    assert empty.problem is None and sha(volume, empty) == cardgen.EMPTY_SHA256
    volume.close()


def test_fat_times_are_local_to_the_zone_the_caller_names(real_card):
    if real_card.fs != "fat32":
        pytest.skip("exFAT times carry their own offset")
    want = real_card.files[0]
    as_cst = walk_files(FatImageMassStorage(real_card.image))[want.path]
    as_utc = walk_files(FatImageMassStorage(real_card.image, card_utc_offset_min=0))[want.path]
    assert as_cst.modified_utc == want.modified_utc
    assert as_utc.modified_utc - as_cst.modified_utc == timedelta(hours=8)


def test_fat_creation_time_keeps_its_10_ms_field(real_card, tmp_path):
    if real_card.fs != "fat32":
        pytest.skip("FAT32 only")
    image = copy_of(real_card, tmp_path)
    want = real_card.files[0]
    layout = Fat32Layout(image)
    layout.patch(layout.locate(want.path).offset + 13, bytes([157]))  # +1.57 s
    got = walk_files(FatImageMassStorage(image))[want.path]
    assert got.created_utc - got.modified_utc == timedelta(seconds=1, milliseconds=570)


@pytest.mark.parametrize(
    ("offset_min", "read_as"),
    [(480, 480), (-300, 480), (345, 0), (None, 480), (None, -60)],
    ids=["CST", "EST", "Nepal", "no-offset-CST", "no-offset-minus1h"],
)
def test_exfat_times_carry_their_utc_offset(real_card, tmp_path, offset_min, read_as):
    if real_card.fs != "exfat":
        pytest.skip("exFAT only")
    image = copy_of(real_card, tmp_path)
    path = real_card.files[0].path
    created = datetime(2026, 11, 23, 1, 2, 3, 450_000, tzinfo=UTC)
    modified = datetime(2026, 11, 23, 1, 7, 9, tzinfo=UTC)
    layout = ExfatLayout(image)
    if offset_min is None:  # no offset: the local time of an unknown zone, as written
        layout.set_times(path, created.replace(tzinfo=None), modified.replace(tzinfo=None), None)
        shift = timedelta(minutes=read_as)
    else:
        layout.set_times(path, created, modified, offset_min)
        shift = timedelta(0)
    got = walk_files(ExfatImageMassStorage(image, card_utc_offset_min=read_as))[path]
    assert got.created_utc == created - shift
    assert got.modified_utc == modified - shift
    assert got.created_utc.tzinfo is UTC


def test_a_directory_volume_gives_modify_times_and_the_read_only_mark(tmp_path):
    card = tmp_path / "card"
    (card / "DCIM").mkdir(parents=True)
    clip = card / "DCIM" / "a.mp4"
    clip.write_bytes(b"clip")
    os.utime(clip, (1_795_000_000, 1_795_000_000))
    locked = card / "DCIM" / "b.mp4"
    locked.write_bytes(b"important")
    locked.chmod(stat.S_IRUSR | stat.S_IRGRP)
    files = walk_files(DirectoryMassStorage(card))
    assert files["DCIM/a.mp4"].modified_utc == datetime.fromtimestamp(1_795_000_000, UTC)
    assert not files["DCIM/a.mp4"].is_readonly and files["DCIM/b.mp4"].is_readonly
    assert files["DCIM/a.mp4"].raw_path == (b"DCIM", b"a.mp4")
    assert files["DCIM/a.mp4"].name_encoding == "fs"


def test_walk_time_budget_excludes_time_spent_by_the_consumer(real_card):
    volume = READERS[real_card.fs](real_card.image)
    started = time.monotonic()
    entries = []
    for entry in volume.walk(WalkLimits(timeout_s=0.5)):
        entries.append(entry)
        time.sleep(0.05)  # copying the clip just found
    assert time.monotonic() - started > 0.5  # the consumer alone spent more than the budget
    assert [e for e in entries if e.kind is EntryKind.BROKEN] == []
    assert {e.path for e in entries if e.kind is EntryKind.FILE} == set(real_card.by_path())
    volume.close()


def test_a_walk_out_of_time_ends_with_one_broken_entry(real_card):
    volume = READERS[real_card.fs](real_card.image)
    entries = list(volume.walk(WalkLimits(timeout_s=0)))
    assert [e.kind for e in entries].count(EntryKind.BROKEN) == 1
    assert entries[-1].kind is EntryKind.BROKEN and "longer than 0 s" in entries[-1].problem
    volume.close()

"""Damaged exFAT recorder cards: mkfs.exfat + exfat-fuse images, byte-patched where a torn
write or a failing card leaves them, each checked against the same card undamaged."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hw.exfat import ExfatImageMassStorage
from hw.mass_storage import Entry, EntryKind
from tests import cardgen
from tests.cardgen import ExfatLayout

SUB = "DCIM/20261123/SUB"
FIRST = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def base_card(tmp_path_factory) -> cardgen.CardManifest:
    reason = cardgen.exfat_missing_reason()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("exfat")
    clips = cardgen.shift_clips(FIRST, 4, size_bytes=20_000, important_every=2)
    card = cardgen.make_real_card(work / "base.img", fs="exfat", clips=clips, cluster_bytes=4096)
    with cardgen.mounted_exfat(card.image) as mnt:
        (mnt / SUB).mkdir()
        (mnt / SUB / "INNER.MP4").write_bytes(b"inner" * 1000)
    return card


@pytest.fixture
def card(base_card, tmp_path) -> Path:
    image = tmp_path / "card.img"
    subprocess.run(["cp", "--sparse=always", str(base_card.image), str(image)], check=True)
    return image


def walk(image: Path) -> tuple[list[Entry], ExfatImageMassStorage]:
    volume = ExfatImageMassStorage(image)
    return list(volume.walk()), volume


def files_of(entries: list[Entry]) -> dict[str, Entry]:
    return {e.path: e for e in entries if e.kind is EntryKind.FILE}


def sha(volume: ExfatImageMassStorage, entry: Entry) -> str:
    with volume.open(entry) as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_an_undamaged_exfat_card_has_no_problems(card, base_card):
    entries, volume = walk(card)
    assert [e for e in entries if e.kind is EntryKind.BROKEN] == []
    assert volume.volume_problems() == [] and volume.late_problems() == {}
    files = files_of(entries)
    assert all(sha(volume, files[f.path]) == f.sha256 for f in base_card.files)


def test_a_broken_exfat_entry_set_is_reported_and_the_rest_of_its_directory_read(card, base_card):
    victim, *others = [f for f in base_card.files if f.path.startswith("DCIM/")]
    cardgen.break_exfat_entry_set(card, victim.path)
    entries, volume = walk(card)
    (bad,) = [e for e in entries if e.kind is EntryKind.BROKEN]
    assert bad.path == "DCIM/20261123" and "checksum does not match" in (bad.problem or "")
    files = files_of(entries)
    assert victim.path not in files
    assert all(sha(volume, files[f.path]) == f.sha256 for f in others)


def test_an_exfat_subdirectory_pointing_at_the_root_is_reported_not_followed(card, base_card):
    cardgen.point_exfat_directory_at_root(card, SUB)
    entries, volume = walk(card)
    (bad,) = [e for e in entries if e.kind is EntryKind.BROKEN]
    assert bad.path == SUB and "the root" in (bad.problem or "")
    assert {f.path for f in base_card.files} <= set(files_of(entries))


def test_cross_linked_exfat_files_are_both_flagged(card, base_card):
    first, second = [f.path for f in base_card.files if f.path.endswith(".MP4")][:2]
    layout = ExfatLayout(card)
    layout.set_first_cluster(second, layout.locate(first).first_cluster)
    entries, volume = walk(card)
    assert "cross-linked" in (files_of(entries)[second].problem or "")
    assert set(volume.late_problems()) == {first}


def test_exfat_backup_boot_region_disagreement_is_a_volume_problem(card):
    cardgen.damage_exfat_backup_boot_region(card)
    (problem,) = ExfatImageMassStorage(card).volume_problems()
    assert "backup boot region (sector 12) disagrees" in problem and "\n" not in problem


def test_exfat_percent_in_use_over_100_is_a_volume_problem(card):
    cardgen.set_exfat_percent_in_use(card, 0xFF)  # "unknown" is fine
    assert ExfatImageMassStorage(card).volume_problems() == []
    cardgen.set_exfat_percent_in_use(card, 180)
    (problem,) = ExfatImageMassStorage(card).volume_problems()
    assert "180% in use" in problem


def test_a_read_only_exfat_file_is_marked(card, base_card):
    path = next(f.path for f in base_card.files if not f.is_readonly)
    assert not files_of(walk(card)[0])[path].is_readonly
    ExfatLayout(card).set_attributes(path, set_bits=0x01)
    assert files_of(walk(card)[0])[path].is_readonly


def test_an_exfat_file_in_the_allocation_bitmap_is_flagged(card, base_card):
    path = base_card.files[0].path
    layout = ExfatLayout(card)
    boot_root = layout.list_dir(layout.root_cluster, None, False)  # names only: find 0x81
    assert boot_root  # the root lists DCIM and IMPORTANT
    root_offset = layout.heap + (layout.root_cluster - 2) * layout.cluster_bytes
    root = layout.read(root_offset, layout.cluster_bytes)
    at = next(i for i in range(0, len(root), 32) if root[i] == 0x81)
    bitmap_cluster = int.from_bytes(root[at + 20 : at + 24], "little")
    layout.set_first_cluster(path, bitmap_cluster)
    entries, _ = walk(card)
    assert "cross-linked" in (files_of(entries)[path].problem or "")


def test_an_exfat_subdirectory_pointing_at_its_ancestor_is_reported_not_followed(card):
    layout = ExfatLayout(card)
    day = layout.locate("DCIM/20261123")
    layout.set_first_cluster(SUB, day.first_cluster, contiguous=day.is_contiguous)
    entries, _ = walk(card)
    (bad,) = [e for e in entries if e.kind is EntryKind.BROKEN]
    assert bad.path == SUB and "ancestor 'DCIM/20261123'" in (bad.problem or "")


def test_an_exfat_clip_with_a_chain_longer_than_its_size_is_flagged(card, base_card):
    path = next(f.path for f in base_card.files if f.size_bytes > 8192)
    layout = ExfatLayout(card)
    found = layout.locate(path)
    if found.is_contiguous:  # the chain must be in the FAT for it to be too long
        chain = layout.clusters(found.first_cluster, found.size_bytes, True)
        for a, b in zip(chain, chain[1:], strict=False):
            layout.set_fat(a, b)
        layout.set_fat(chain[-1], 0xFFFFFFFF)
        layout.set_first_cluster(path, found.first_cluster, contiguous=False)
    else:
        chain = layout.clusters(found.first_cluster, None, False)
    free = max(chain) + 1000
    layout.set_fat(chain[-1], free)
    layout.set_fat(free, 0xFFFFFFFF)
    entries, volume = walk(card)
    entry = files_of(entries)[path]
    assert "continues past" in (entry.problem or "")
    assert sha(volume, entry) == base_card.by_path()[path].sha256

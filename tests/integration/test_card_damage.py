"""Damaged FAT32 recorder cards: each fault is a byte patch on a real mkfs.vfat/mtools card,
and every rule is checked both on the damaged card and on the same card undamaged."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hw.fat32 import FatImageMassStorage
from hw.mass_storage import Entry, EntryKind, WalkLimits
from tests import cardgen
from tests.cardgen import Fat32Layout

DAY = "DCIM/20261123"
A, B = "DCIM/20261123/CROSS_A.MP4", "DCIM/20261123/CROSS_B.MP4"
SUB = "DCIM/20261123/SUB"
CLUSTER = 512  # small clusters: directories and clips span many of them


@pytest.fixture(scope="module")
def base_card(tmp_path_factory) -> cardgen.CardManifest:
    """A real-layout card plus two same-sized clips (to cross-link) and a nested folder."""
    work = tmp_path_factory.mktemp("damage")
    clips = cardgen.shift_clips(
        datetime(2026, 11, 23, 0, 30, tzinfo=UTC), 4, size_bytes=3000, important_every=2
    )
    card = cardgen.make_real_card(work / "base.img", clips=clips, cluster_bytes=CLUSTER)
    cardgen.add_files(
        card,
        {
            A: clip(2000, "a"),
            B: clip(2000, "b"),
            f"{SUB}/INNER.MP4": clip(1500, "inner"),
            f"{SUB}/DEEP/DEEPER.MP4": clip(700, "deeper"),
        },
    )
    return card


def clip(size: int, seed: str) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


@pytest.fixture
def card(base_card, tmp_path) -> Path:
    image = tmp_path / "card.img"
    subprocess.run(["cp", "--sparse=always", str(base_card.image), str(image)], check=True)
    return image


def walk(image: Path, limits: WalkLimits | None = None) -> tuple[list[Entry], FatImageMassStorage]:
    volume = FatImageMassStorage(image)
    entries = list(volume.walk(limits) if limits else volume.walk())
    return entries, volume


def files_of(entries: list[Entry]) -> dict[str, Entry]:
    return {e.path: e for e in entries if e.kind is EntryKind.FILE}


def broken_of(entries: list[Entry]) -> dict[str, str]:
    return {e.path: e.problem or "" for e in entries if e.kind is EntryKind.BROKEN}


def sha_of(volume: FatImageMassStorage, entry: Entry) -> str:
    with volume.open(entry) as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_an_undamaged_card_has_no_broken_entries_problems_or_volume_problems(card, base_card):
    entries, volume = walk(card)
    assert broken_of(entries) == {}
    files = files_of(entries)
    assert all(e.problem is None for e in files.values())
    assert volume.late_problems() == {}
    assert volume.volume_problems() == []
    for f in base_card.files:
        assert sha_of(volume, files[f.path]) == f.sha256


def test_a_looping_directory_does_not_stop_the_rest_of_the_card(card, base_card):
    cardgen.loop_fat32_directory(card, DAY)
    entries, volume = walk(card)
    bad = broken_of(entries)
    assert list(bad) == [DAY] and "loops" in bad[DAY] and "\n" not in bad[DAY]
    files = files_of(entries)
    important = [f for f in base_card.files if f.path.startswith("IMPORTANT/")]
    assert important and all(sha_of(volume, files[f.path]) == f.sha256 for f in important)
    # the looping folder's own clusters are read up to the loop: its clips still come off
    for f in base_card.files:
        assert sha_of(volume, files[f.path]) == f.sha256


@pytest.mark.timeout(30)
def test_a_subdirectory_pointing_at_the_root_is_reported_not_followed(card, base_card):
    cardgen.point_fat32_directory_at(card, SUB, "")
    entries, volume = walk(card)
    bad = broken_of(entries)
    assert list(bad) == [SUB] and "the root" in bad[SUB]
    assert not any(e.path.startswith(f"{SUB}/") for e in entries)
    assert {f.path for f in base_card.files} <= set(files_of(entries))


def test_a_subdirectory_pointing_at_an_ancestor_is_reported_not_followed(card):
    cardgen.point_fat32_directory_at(card, f"{SUB}/DEEP", "DCIM")
    entries, _ = walk(card)
    bad = broken_of(entries)
    assert list(bad) == [f"{SUB}/DEEP"] and "ancestor 'DCIM'" in bad[f"{SUB}/DEEP"]
    assert f"{SUB}/INNER.MP4" in files_of(entries)


def test_a_directory_chain_outside_the_volume_is_broken_and_the_rest_is_walked(card, base_card):
    layout = Fat32Layout(card)
    layout.set_fat(layout.locate(SUB).first_cluster, 0x0FFFFF00)  # past the last cluster
    entries, _ = walk(card)
    bad = broken_of(entries)
    assert list(bad) == [SUB] and "leaves the volume" in bad[SUB]
    assert {f.path for f in base_card.files} <= set(files_of(entries))


def test_cross_linked_files_are_both_flagged(card):
    entries, volume = walk(card)
    want_a = sha_of(volume, files_of(entries)[A])
    cardgen.cross_link_fat32(card, A, B)
    entries, volume = walk(card)
    files = files_of(entries)
    assert files[A].problem is None  # found first: nothing to see yet
    assert "cross-linked" in (files[B].problem or "")
    assert set(volume.late_problems()) == {A}
    assert "found later" in volume.late_problems()[A]
    assert sha_of(volume, files[B]) == want_a  # copied as read
    others = {p: e for p, e in files.items() if p not in (A, B)}
    assert all(e.problem is None for e in others.values())


def test_without_cross_links_no_file_is_flagged_late(card):
    _, volume = walk(card)
    assert volume.late_problems() == {}


def test_a_file_in_a_directorys_clusters_is_flagged(card, base_card):
    later = next(f.path for f in base_card.files if f.path.startswith("IMPORTANT/"))
    layout = Fat32Layout(card)
    layout.set_first_cluster(later, layout.locate(SUB).first_cluster)
    entries, volume = walk(card)
    assert "cross-linked" in (files_of(entries)[later].problem or "")
    assert broken_of(entries) == {}  # the folder was read first, as it is


def test_a_directory_in_a_files_clusters_is_broken_and_the_file_flagged_late(card):
    layout = Fat32Layout(card)
    layout.set_first_cluster(SUB, layout.locate(A).first_cluster)
    entries, volume = walk(card)
    assert "already used" in broken_of(entries)[SUB]
    assert set(volume.late_problems()) == {A}


def test_a_chain_longer_than_its_size_is_flagged(card):
    entries, volume = walk(card)
    want = sha_of(volume, files_of(entries)[A])
    cardgen.lengthen_fat32_chain(card, A, extra=2)
    entries, volume = walk(card)
    files = files_of(entries)
    assert "continues past the 4 clusters its size needs" in (files[A].problem or "")
    assert sha_of(volume, files[A]) == want  # the bytes the size covers, as read
    assert files[B].problem is None


def test_a_chain_that_loops_after_its_needed_clusters_is_flagged(card):
    cardgen.loop_fat32_chain_after_size(card, A)
    entries, _ = walk(card)
    assert "loops back after the 4 clusters" in (files_of(entries)[A].problem or "")


def test_a_chain_shorter_than_its_size_is_flagged_and_not_read_as_exact(card):
    cardgen.shorten_fat32_chain(card, A, keep=2)
    entries, volume = walk(card)
    entry = files_of(entries)[A]
    assert "after 2 of the 4 clusters" in (entry.problem or "")
    with pytest.raises(Exception, match="cannot be read exactly") as caught:
        volume.open(entry)
    assert "\n" not in str(caught.value)


def test_a_chain_looping_inside_its_size_is_flagged_not_a_hang(card):
    layout = Fat32Layout(card)
    chain = layout.chain(layout.locate(A).first_cluster)
    layout.set_fat(chain[2], chain[0])
    entries, _ = walk(card)
    assert "loops back" in (files_of(entries)[A].problem or "")


def test_a_zero_length_file_is_an_ordinary_file(card):
    cardgen.add_files(
        cardgen.CardManifest(card, "fat32", "", CLUSTER, ()), {f"{DAY}/EMPTY.WAV": b""}
    )
    entries, volume = walk(card)
    entry = files_of(entries)[f"{DAY}/EMPTY.WAV"]
    assert entry.size_bytes == 0 and entry.problem is None
    assert sha_of(volume, entry) == cardgen.EMPTY_SHA256


def test_a_zero_length_file_that_owns_clusters_is_flagged(card):
    cardgen.Fat32Layout(card).set_size(A, 0)
    entries, _ = walk(card)
    assert "size is 0 but it owns" in (files_of(entries)[A].problem or "")


def test_backup_boot_sector_disagreement_is_a_volume_problem(card):
    cardgen.damage_fat32_backup_boot_sector(card)
    entries, volume = walk(card)
    (problem,) = volume.volume_problems()
    assert "backup boot sector (sector 6)" in problem and "BPB_SecPerClus" in problem
    assert "primary is used" in problem and "\n" not in problem
    assert broken_of(entries) == {}  # the primary is trusted: the card reads as before


def test_an_fsinfo_free_count_larger_than_the_volume_is_a_volume_problem(card):
    layout = Fat32Layout(card)
    cardgen.set_fat32_fsinfo_free(card, 0xFFFFFFFF)  # "unknown" is fine
    assert FatImageMassStorage(card).volume_problems() == []
    cardgen.set_fat32_fsinfo_free(card, 0x7FFFFFFF)
    (problem,) = FatImageMassStorage(card).volume_problems()
    assert "FSInfo claims 2147483647 free clusters" in problem
    assert layout.fsinfo == 1


def test_fat_copies_that_disagree_are_a_volume_problem(card):
    layout = Fat32Layout(card)
    cluster = layout.locate(A).first_cluster
    cardgen.damage_second_fat(card, cluster, 0x0FFFFFFF)
    (problem,) = FatImageMassStorage(card).volume_problems()
    assert f"cluster {cluster:#x}" in problem and "first is used" in problem


def test_the_cluster_budget_ends_a_walk_with_a_broken_entry(card):
    entries, _ = walk(card, WalkLimits(max_clusters=40))
    assert entries[-1].kind is EntryKind.BROKEN and "clusters visited" in (
        entries[-1].problem or ""
    )


def test_the_walk_on_a_damaged_card_never_raises_and_names_every_fault_once(card, base_card):
    """Several faults at once, as a dropped recorder's card may have them."""
    cardgen.loop_fat32_directory(card, f"{SUB}/DEEP")
    cardgen.cross_link_fat32(card, A, B)
    cardgen.damage_fat32_backup_boot_sector(card)
    entries, volume = walk(card)
    assert list(broken_of(entries)) == [f"{SUB}/DEEP"]
    assert len(volume.volume_problems()) == 1
    assert set(volume.late_problems()) == {A}
    files = files_of(entries)
    assert all(sha_of(volume, files[f.path]) == f.sha256 for f in base_card.files)

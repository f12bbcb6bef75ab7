"""`recorder-sim --card`: a real-layout card dump served as it is, and exact deletions.

The images are real: mkfs.vfat filled by mcopy (FAT times written in China Standard Time,
as a recorder set to local time does), mkfs.exfat filled through FUSE (root only), then
byte patches for case twins and cross-links. Every delete is checked with fsck and by
comparing the image byte for byte with its copy from before.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from firmware_bridge.sim import SimBoard
from firmware_bridge.sim.card import open_card
from firmware_bridge.sim.storage import StorageError
from hw.fat32 import FatImageMassStorage

SERIAL = "ZFY00007"
CST_OFFSET_S = 8 * 3600
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="filling exFAT needs root for FUSE")


def _utc_s(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


# name -> (content, modify time UTC s); names and times as a real recorder leaves them
CLIP_A = "DCIM/20261123/20261123_081502_ZFY00007_310115.MP4"
CLIP_B = "DCIM/20261123/20261123_093010_ZFY00007_310115.MP4"
NOTE = "DCIM/20261123/20261123_094000_ZFY00007_310115.WAV"
LOCKED = "IMPORTANT/20261123_101500_ZFY00007_310115.MP4"
STRAY = "MISC/readme.txt"


def real_layout_files() -> dict[str, tuple[bytes, int]]:
    def body(seed: int, size: int) -> bytes:
        return hashlib.shake_256(seed.to_bytes(4, "little")).digest(size)

    return {
        CLIP_A: (body(1, 150_000), _utc_s("2026-11-23T00:25:02")),  # 08:15:02 CST + 10 min
        CLIP_B: (body(2, 90_000), _utc_s("2026-11-23T01:45:10")),
        NOTE: (body(3, 4_000), _utc_s("2026-11-23T01:40:30")),
        LOCKED: (body(4, 70_000), _utc_s("2026-11-23T02:20:00")),
        STRAY: (b"not a clip\n", _utc_s("2026-11-22T12:00:00")),
    }


def _stage(root: Path, files: dict[str, tuple[bytes, int]]) -> None:
    for name, (content, mtime) in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        os.utime(target, (mtime, mtime))


def make_fat32_card(
    image: Path,
    files: dict[str, tuple[bytes, int]],
    *,
    label: str = SERIAL,
    readonly: tuple[str, ...] = (LOCKED,),
    megabytes: int = 40,
) -> Path:
    """A FAT32 card as a recorder leaves it: mkfs.vfat, mcopy in China Standard Time."""
    staging = image.parent / (image.name + ".staging")
    _stage(staging, files)
    with open(image, "wb") as handle:
        handle.truncate(megabytes << 20)
    env = {**os.environ, "TZ": "CST-8"}  # mtools writes FAT times in the host's local time
    subprocess.run(
        ["mkfs.vfat", "-F", "32", "-s", "1", "-n", label, str(image)],
        check=True,
        capture_output=True,
    )
    tops = sorted(str(p) for p in staging.iterdir())
    subprocess.run(["mcopy", "-s", "-m", "-i", str(image), *tops, "::/"], check=True, env=env)
    for name in readonly:
        if name in files:
            subprocess.run(["mattrib", "-i", str(image), "+r", "::/" + name], check=True, env=env)
    shutil.rmtree(staging)
    return image


def make_exfat_card(
    image: Path, files: dict[str, tuple[bytes, int]], *, label: str = SERIAL
) -> Path:
    from firmware_bridge.sim.images import mounted_exfat

    staging = image.parent / (image.name + ".staging")
    _stage(staging, files)
    with open(image, "wb") as handle:
        handle.truncate(32 << 20)
    subprocess.run(["mkfs.exfat", "-L", label, str(image)], check=True, capture_output=True)
    with mounted_exfat(image) as root:
        shutil.copytree(staging, root, dirs_exist_ok=True)
    shutil.rmtree(staging)
    return image


def changed_offsets(before: bytes, after: bytes) -> list[int]:
    assert len(before) == len(after)
    return [i for i in range(len(before)) if before[i] != after[i]] if before != after else []


def _fsck(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True)


@pytest.fixture
def fat_card(tmp_path: Path) -> Path:
    return make_fat32_card(tmp_path / "CARD.img", real_layout_files())


def test_the_simulator_serves_a_card_image_without_changing_it(fat_card: Path):
    before = fat_card.read_bytes()
    storage = open_card(fat_card)
    board = SimBoard(storage, serial=storage.label)
    listing = {clip["path"]: clip for clip in board.list_clips()}
    files = real_layout_files()
    assert storage.label == SERIAL
    assert sorted(listing) == sorted(files)
    for name, (content, mtime) in files.items():
        clip = listing[name]
        assert clip["size_bytes"] == len(content)
        assert clip["sha256"] == b""  # no device hash: real GA/T 947 recorders keep none
        assert board.clip_sha256(name) == hashlib.sha256(content).digest()
        assert clip["end_utc_s"] == mtime
    # start from the name, read as China Standard Time; a name outside the layout: its mtime
    assert listing[CLIP_A]["start_utc_s"] == _utc_s("2026-11-23T08:15:02") - CST_OFFSET_S
    assert listing[STRAY]["start_utc_s"] == files[STRAY][1]
    assert {n for n, c in listing.items() if c["is_important"]} == {LOCKED}
    assert fat_card.read_bytes() == before


def test_a_sidecar_in_sha256sum_format_gives_device_hashes_for_the_files_it_names(fat_card: Path):
    files = real_layout_files()
    digest = hashlib.sha256(files[CLIP_B][0]).hexdigest()
    Path(str(fat_card) + ".sha256").write_text(f"{digest}  {CLIP_B}\n{'0' * 64} *GONE/x.MP4\n")
    listing = {c["path"]: c for c in SimBoard(open_card(fat_card)).list_clips()}
    assert listing[CLIP_B]["sha256"] == bytes.fromhex(digest)
    assert listing[CLIP_A]["sha256"] == b""


def test_a_malformed_sidecar_line_stops_the_simulator_in_one_line(fat_card: Path):
    Path(str(fat_card) + ".sha256").write_text("abc  DCIM/x.MP4\n")
    done = subprocess.run(
        [sys.executable, "-m", "firmware_bridge.sim", "--card", str(fat_card)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert (
        done.stderr.count("\n") == 1 and "line 1" in done.stderr and "Traceback" not in done.stderr
    )


def test_recorder_sim_refuses_to_format_an_existing_image(fat_card: Path):
    before = fat_card.read_bytes()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "firmware_bridge.sim",
            "--storage",
            "fat32",
            "--path",
            str(fat_card),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "--card" in done.stderr
    assert fat_card.read_bytes() == before


def _fat_geometry(image: bytes) -> tuple[int, int, list[int], int]:
    bps, spc, reserved, fats = struct.unpack_from("<HBHB", image, 11)
    fat_sectors = struct.unpack_from("<I", image, 36)[0]
    fat_offsets = [(reserved + i * fat_sectors) * bps for i in range(fats)]
    heap = (reserved + fats * fat_sectors) * bps
    return bps * spc, heap, fat_offsets, struct.unpack_from("<H", image, 48)[0] * bps


def _short_entry_offset(image: bytes, raw11: bytes) -> int:
    at = image.find(raw11)
    assert at >= 0 and image.find(raw11, at + 1) < 0, raw11
    return at


def test_a_delete_removes_exactly_the_named_file_not_its_case_twin(tmp_path: Path):
    upper, other = b"UPPER", b"lower"
    card = make_fat32_card(
        tmp_path / "CARD.img",
        {
            "DCIM/CLIP.MP4": (upper * 1000, _utc_s("2026-11-23T01:00:00")),
            "DCIM/CLIQ.MP4": (other * 900, _utc_s("2026-11-23T02:00:00")),
        },
    )
    image = bytearray(card.read_bytes())
    twin = _short_entry_offset(image, b"CLIQ    MP4")
    image[twin : twin + 11] = b"CLIP    MP4"
    image[twin + 12] = 0x18  # NT case flags: shown as "clip.mp4", the case twin of CLIP.MP4
    card.write_bytes(image)
    storage = open_card(card)
    assert sorted(p for p, _ in storage.list_files()) == ["DCIM/CLIP.MP4", "DCIM/clip.mp4"]
    before = card.read_bytes()

    storage.delete("DCIM/clip.mp4")

    after = card.read_bytes()
    assert [p for p, _ in open_card(card).list_files()] == ["DCIM/CLIP.MP4"]
    assert open_card(card).sha256("DCIM/CLIP.MP4") == hashlib.sha256(upper * 1000).digest()
    cluster_bytes, _heap, fat_offsets, fsinfo = _fat_geometry(before)
    first = (
        struct.unpack_from("<H", before, twin + 26)[0]
        | struct.unpack_from("<H", before, twin + 20)[0] << 16
    )
    chain = range(
        first, first + -(-len(other * 900) // cluster_bytes)
    )  # mcopy writes it contiguous
    allowed = {twin} | {fsinfo + 488 + i for i in range(4)}
    allowed |= {fat + 4 * c + i for fat in fat_offsets for c in chain for i in range(4)}
    assert set(changed_offsets(before, after)) <= allowed
    assert after[twin] == 0xE5
    assert _fsck("fsck.vfat", "-n", str(card)).returncode == 0


def test_a_delete_of_a_long_name_marks_every_entry_of_it_and_frees_its_chain(fat_card: Path):
    before = fat_card.read_bytes()
    storage = open_card(fat_card)
    storage.delete(CLIP_A)
    files = real_layout_files()
    reread = open_card(fat_card)
    assert sorted(p for p, _ in reread.list_files()) == sorted(set(files) - {CLIP_A})
    for name in set(files) - {CLIP_A}:
        assert reread.sha256(name) == hashlib.sha256(files[name][0]).digest()
    assert reread.free_bytes() - open_card_free(before, fat_card) >= len(files[CLIP_A][0])
    check = _fsck("fsck.vfat", "-n", str(fat_card))
    assert check.returncode == 0, check.stdout  # no orphaned long-name part, no lost cluster


def open_card_free(image_bytes: bytes, path: Path) -> int:
    copy = path.with_name("before-" + path.name)
    copy.write_bytes(image_bytes)
    return open_card(copy).free_bytes()


def test_a_cross_linked_file_is_refused_and_the_image_stays_whole(fat_card: Path):
    image = bytearray(fat_card.read_bytes())
    reader = FatImageMassStorage(fat_card)
    nodes = {e.path: e.locator for e in reader.walk()}
    reader.close()
    # CLIP_B's second cluster now also follows CLIP_A's first: the two files share clusters.
    _cb, _heap, fat_offsets, _fsinfo = _fat_geometry(image)
    a_first, b_first = nodes[CLIP_A].first_cluster, nodes[CLIP_B].first_cluster
    for fat in fat_offsets:
        struct.pack_into("<I", image, fat + 4 * a_first, b_first + 1)
    fat_card.write_bytes(image)
    before = fat_card.read_bytes()
    storage = open_card(fat_card)
    for victim in (CLIP_A, CLIP_B):
        with pytest.raises(StorageError, match="not deleted"):
            storage.delete(victim)
    assert fat_card.read_bytes() == before


def test_a_file_whose_fat_copies_disagree_is_kept(fat_card: Path):
    image = bytearray(fat_card.read_bytes())
    reader = FatImageMassStorage(fat_card)
    first = next(e.locator.first_cluster for e in reader.walk() if e.path == CLIP_B)
    reader.close()
    _cb, _heap, fat_offsets, _fsinfo = _fat_geometry(image)
    struct.pack_into("<I", image, fat_offsets[1] + 4 * first, 0x0FFFFFFF)
    fat_card.write_bytes(image)
    before = fat_card.read_bytes()
    with pytest.raises(StorageError, match="FAT copies disagree"):
        open_card(fat_card).delete(CLIP_B)
    assert fat_card.read_bytes() == before


@needs_root
def test_exfat_is_read_without_a_mount(tmp_path: Path, monkeypatch):
    card = make_exfat_card(tmp_path / "CARD.img", real_layout_files())
    before = card.read_bytes()
    import firmware_bridge.sim.images as images

    def no_tools(args, what):
        raise AssertionError(f"the simulator ran {args[0]} to {what}")

    monkeypatch.setattr(images, "_run", no_tools)
    storage = open_card(card)
    files = real_layout_files()
    assert storage.label == SERIAL
    assert sorted(p for p, _ in storage.list_files()) == sorted(files)
    for name, (content, _mtime) in files.items():
        assert storage.sha256(name) == hashlib.sha256(content).digest()
    assert 0 < storage.free_bytes() < storage.total_bytes()
    assert card.read_bytes() == before  # a read-write mount would have marked the volume

    storage.delete(CLIP_A)

    changed = changed_offsets(before, card.read_bytes())
    assert 0 < len(changed) <= 3 + 2 + 64 * 4  # its 3 entries' type bytes, bitmap bits, FAT
    reread = open_card(card)
    assert sorted(p for p, _ in reread.list_files()) == sorted(set(files) - {CLIP_A})
    for name in set(files) - {CLIP_A}:
        assert reread.sha256(name) == hashlib.sha256(files[name][0]).digest()
    check = _fsck("fsck.exfat", "-n", str(card))
    assert check.returncode == 0, check.stdout + check.stderr


@needs_root
def test_an_exfat_file_sharing_clusters_with_another_is_refused_and_the_image_stays_whole(
    tmp_path: Path,
):
    from hw.exfat import ExfatImageMassStorage

    files = real_layout_files()
    card = make_exfat_card(tmp_path / "CARD.img", files)
    reader = ExfatImageMassStorage(card)
    nodes = {e.path: e.locator for e in reader.walk()}
    reader.close()
    image = bytearray(card.read_bytes())
    b = nodes[CLIP_B]
    stream = struct.pack("<IQ", b.first_cluster, b.size_bytes)  # FirstCluster, DataLength
    at = image.find(stream)
    assert at >= 0 and image[at - 20] == 0xC0 and image.find(stream, at + 1) < 0
    struct.pack_into("<I", image, at, nodes[CLIP_A].first_cluster)  # B now starts inside A
    _fix_exfat_set_checksum(image, at - 20 - 32)  # a consistent entry set, a cross-linked file
    card.write_bytes(image)
    before = card.read_bytes()
    storage = open_card(card)
    assert {CLIP_A, CLIP_B} <= {p for p, _ in storage.list_files()}
    for victim in (CLIP_A, CLIP_B):
        with pytest.raises(StorageError, match="not deleted"):
            storage.delete(victim)
    assert card.read_bytes() == before


def _fix_exfat_set_checksum(image: bytearray, file_entry: int) -> None:
    assert image[file_entry] == 0x85
    length = 32 * (1 + image[file_entry + 1])
    total = 0
    for i, byte in enumerate(image[file_entry : file_entry + length]):
        if i not in (2, 3):
            total = (((total << 15) | (total >> 1)) + byte) & 0xFFFF
    struct.pack_into("<H", image, file_entry + 2, total)

"""Recorder volumes from real FAT32 and exFAT images and directories, read without a mount.

Images are made with mkfs.vfat/mtools and mkfs.exfat (filled through loop + FUSE as root),
and every clip read back must hash exactly like the original.
"""

import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from dock.offload.copy import copy_and_hash
from dock.offload.source import (
    NOT_LISTED,
    Intake,
    ListedClip,
    Quarantine,
    QuarantineCode,
    judge_entry,
    raw_path_hex,
)
from dock.offload.store import EvidenceStore
from hw.exfat import ExfatImageMassStorage, set_checksum
from hw.fat32 import FatImageMassStorage
from hw.mass_storage import (
    BlockDevice,
    DirectoryMassStorage,
    EntryKind,
    MassStorageError,
    MountedMassStorage,
    WalkBudget,
    WalkLimits,
    WrongVolume,
)

LABEL = "ZFY00001"


def clip_bytes(size: int, seed: int) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size)


def make_card_tree(root: Path) -> dict[str, bytes]:
    """A recorder's card: date directories of clips, sizes across cluster boundaries."""
    files = {
        "DCIM/20261122/20261122_180101_0001.MP4": clip_bytes(300_001, 1),
        "DCIM/20261123/20261123_081502_0002.MP4": clip_bytes(1 << 20, 2),
        "DCIM/20261123/20261123_093000_0003.MP4": clip_bytes(32768 * 3 + 1, 3),
        "DCIM/20261123/Clip-xx.mp4": clip_bytes(4097, 4),
        "DCIM/20261123/Note-yy.wav": clip_bytes(511, 5),
        "DCIM/20261123/Odd-zzz.mp4": clip_bytes(2000, 6),
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def make_fat32(tmp_path: Path, sectors_per_cluster: int, files_root: Path) -> Path:
    image = tmp_path / f"card-s{sectors_per_cluster}.img"
    size_mb = 2200 if sectors_per_cluster == 64 else 48  # FAT32 needs >= 65525 clusters
    subprocess.run(["truncate", "-s", f"{size_mb}M", str(image)], check=True)
    subprocess.run(
        ["mkfs.vfat", "-F", "32", "-s", str(sectors_per_cluster), "-n", LABEL, str(image)],
        check=True,
        capture_output=True,
    )
    subprocess.run(["mcopy", "-s", "-i", str(image), str(files_root / "DCIM"), "::/"], check=True)
    return image


def read_all(volume) -> dict[str, bytes]:
    out = {}
    for entry in volume.walk():
        if entry.kind is EntryKind.FILE:
            with volume.open(entry) as f:
                out[entry.path] = f.read()
    return out


def sha_map(files: dict[str, bytes]) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}


@pytest.fixture(scope="module")
def card_files(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("card")
    return root, make_card_tree(root)


@pytest.fixture(scope="module", params=[64, 1], ids=["32KiB-clusters", "512B-clusters"])
def fat_image(request, tmp_path_factory, card_files) -> Path:
    return make_fat32(tmp_path_factory.mktemp("fat"), request.param, card_files[0])


def test_fat32_image_clips_read_byte_exact(fat_image, card_files):
    volume = FatImageMassStorage(fat_image)
    try:
        assert sha_map(read_all(volume)) == sha_map(card_files[1])
    finally:
        volume.close()


def test_fat32_volume_label_is_read(fat_image):
    volume = FatImageMassStorage(fat_image)
    assert volume.volume_label() == LABEL
    volume.close()


def test_reading_a_fat32_image_never_writes_to_it(fat_image):
    def fingerprint():
        st = fat_image.stat()
        with open(fat_image, "rb") as f:
            head = hashlib.sha256(f.read(4 << 20)).hexdigest()  # boot sector, FATs, root dir
        return st.st_mtime_ns, st.st_size, head

    before = fingerprint()
    volume = FatImageMassStorage(fat_image)
    read_all(volume)
    volume.close()
    assert fingerprint() == before


def test_fat32_clip_copies_into_the_store_with_its_hash(fat_image, card_files, tmp_path):
    store = EvidenceStore(tmp_path / "store", reserve_bytes=0)
    volume = FatImageMassStorage(fat_image)
    entry = next(e for e in volume.walk() if e.path.endswith("0002.MP4"))
    want = hashlib.sha256(card_files[1][entry.path]).hexdigest()
    with volume.open(entry) as src:
        result = copy_and_hash(src, entry.size_bytes, store, expected_sha256=want)
    volume.close()
    assert result.is_verified and store.verify(want)


def patch_lfn(image: Path, old: str, new_units: list[int]) -> None:
    """Rewrite a one-slot long name in place (mtools refuses hostile names)."""
    data = bytearray(image.read_bytes()[: 64 << 20])
    pos = data.find(old[:5].encode("utf-16-le"))
    assert pos > 0, f"LFN for {old} not found"
    start = pos - 1
    units = (new_units + [0] + [0xFFFF] * 13)[:13]
    raw = struct.pack("<13H", *units)
    with open(image, "r+b") as f:
        f.seek(start + 1)
        f.write(raw[:10])
        f.seek(start + 14)
        f.write(raw[10:22])
        f.seek(start + 28)
        f.write(raw[22:26])


def test_hostile_fat32_names_are_yielded_as_files_with_their_raw_bytes(tmp_path, card_files):
    """The reader does not judge names: the dock copies them under their raw bytes."""
    image = make_fat32(tmp_path, 1, card_files[0])
    patch_lfn(image, "Clip-xx.mp4", [ord(c) for c in "../../e.mp4"])
    patch_lfn(image, "Note-yy.wav", [ord(c) for c in ".."])
    patch_lfn(image, "Odd-zzz.mp4", [0xD800] + [ord(c) for c in "dd-zzz.mp4"])
    volume = FatImageMassStorage(image)
    files = {e.raw_name: e for e in volume.walk() if e.kind is EntryKind.FILE}
    volume.close()
    day = "DCIM/20261123/"
    assert files["../../e.mp4".encode("utf-16-le")].path == day + "../../e.mp4"
    assert files["..".encode("utf-16-le")].path == day + ".."
    odd = files[b"\x00\xd8" + "dd-zzz.mp4".encode("utf-16-le")]
    assert odd.name_encoding == "utf-16le" and odd.size_bytes == 2000
    assert len(files) == len(card_files[1])


def corrupt_fat_entry(image: Path, cluster: int, value: int) -> None:
    """Write one FAT32 entry in every FAT copy, as a damaged card would have it."""
    with open(image, "rb") as f:
        boot = f.read(512)
    bps, reserved, nfats = struct.unpack_from("<HxHB", boot, 11)
    fat_sectors = struct.unpack_from("<I", boot, 36)[0]
    with open(image, "r+b") as f:
        for i in range(nfats):
            f.seek((reserved + i * fat_sectors) * bps + cluster * 4)
            f.write(struct.pack("<I", value))


@pytest.mark.timeout(20)
def test_cluster_chain_loop_in_a_file_is_an_error_not_a_hang(tmp_path, card_files):
    image = make_fat32(tmp_path, 1, card_files[0])
    volume = FatImageMassStorage(image)
    entry = next(e for e in volume.walk() if e.path.endswith("0002.MP4"))
    first = entry.locator.first_cluster
    volume.close()
    corrupt_fat_entry(image, first + 3, first + 1)  # cluster 4 of the file points back to 2
    volume = FatImageMassStorage(image)
    entry = next(e for e in volume.walk() if e.path.endswith("0002.MP4"))
    with pytest.raises(MassStorageError, match="loops") as caught:
        volume.open(entry)
    assert "\n" not in str(caught.value)
    volume.close()


@pytest.mark.timeout(20)
def test_a_root_directory_chain_loop_is_a_broken_entry_not_a_hang(tmp_path, card_files):
    image = make_fat32(tmp_path, 1, card_files[0])
    corrupt_fat_entry(image, 2, 2)  # the root directory's cluster points to itself
    volume = FatImageMassStorage(image)
    entries = list(volume.walk())
    volume.close()
    root = [e for e in entries if e.kind is EntryKind.BROKEN and e.path == "/"]
    assert len(root) == 1 and "loops" in root[0].problem and "\n" not in root[0].problem
    files = {e.path for e in entries if e.kind is EntryKind.FILE}
    assert files == set(card_files[1])  # the root's one good cluster still lists DCIM


def test_garbage_image_is_refused_with_one_line(tmp_path):
    junk = tmp_path / "junk.img"
    junk.write_bytes(clip_bytes(1 << 20, 9))
    for reader in (FatImageMassStorage, ExfatImageMassStorage):
        with pytest.raises(MassStorageError) as caught:
            reader(junk)
        assert "\n" not in str(caught.value)


def exfat_missing_reason() -> str | None:
    if os.geteuid() != 0:
        return "exFAT fixture needs root for losetup and FUSE"
    if not Path("/dev/loop-control").exists():
        return "no /dev/loop-control: loop devices unavailable"
    if not Path("/dev/fuse").exists() or shutil.which("mount.exfat-fuse") is None:
        return "no FUSE or mount.exfat-fuse"
    return None


@pytest.fixture(scope="module")
def exfat_image(tmp_path_factory, card_files) -> Path:
    reason = exfat_missing_reason()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("exfat")
    image, mnt = work / "card.img", work / "mnt"
    mnt.mkdir()
    subprocess.run(["truncate", "-s", "64M", str(image)], check=True)
    subprocess.run(["mkfs.exfat", "-L", LABEL, str(image)], check=True, capture_output=True)
    loop = subprocess.run(
        ["losetup", "-f", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        subprocess.run(["mount.exfat-fuse", loop, str(mnt)], check=True, capture_output=True)
        try:
            shutil.copytree(card_files[0] / "DCIM", mnt / "DCIM")
            (mnt / "DCIM" / "frag").mkdir()
            for i in range(3):  # interleaved appends make FAT-chained, fragmented files
                for name in ("a.mp4", "b.mp4"):
                    with open(mnt / "DCIM" / "frag" / name, "ab") as f:
                        f.write(clip_bytes(70_000, 100 + i + (name == "b.mp4") * 10))
                        f.flush()
                        os.fsync(f.fileno())
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
    finally:
        subprocess.run(["losetup", "-d", loop], check=True)
    return image


def test_exfat_image_clips_read_byte_exact(exfat_image, card_files):
    volume = ExfatImageMassStorage(exfat_image)
    got = read_all(volume)
    volume.close()
    want = dict(card_files[1])
    for name, seed in (("a.mp4", 100), ("b.mp4", 110)):
        want[f"DCIM/frag/{name}"] = b"".join(clip_bytes(70_000, seed + i) for i in range(3))
    assert sha_map(got) == sha_map(want)


def test_exfat_volume_label_is_read(exfat_image):
    volume = ExfatImageMassStorage(exfat_image)
    assert volume.volume_label() == LABEL
    volume.close()


def judge_walk(volume, listing=None, **limits):
    """Each entry of a walk as the offload judges it: path -> Intake or Quarantine."""
    listing = listing or {}
    return {
        e.path: judged
        for e in volume.walk()
        if (judged := judge_entry(e, listing.get(e.path), **limits)) is not None
    }


def test_links_and_devices_stay_on_the_card_while_every_file_with_bytes_comes_off(tmp_path):
    card = tmp_path / "card"
    files = make_card_tree(card)
    day = card / "DCIM" / "20261123"
    (day / "link.mp4").symlink_to("/etc/passwd")
    (day / "escape").symlink_to("/etc")
    os.mkfifo(day / "pipe.mp4")
    (day / "empty.mp4").write_bytes(b"")
    with open(os.path.join(os.fsencode(day), b"bad-\xff.mp4"), "wb") as f:
        f.write(b"x" * 10)
    listing = {p: ListedClip(p, len(d)) for p, d in files.items()}
    volume = DirectoryMassStorage(card, label=LABEL)
    judged = judge_walk(volume, listing)
    left = {p: j.code for p, j in judged.items() if isinstance(j, Quarantine)}
    assert left == {
        "DCIM/20261123/link.mp4": QuarantineCode.SYMLINK,
        "DCIM/20261123/escape": QuarantineCode.SYMLINK,
        "DCIM/20261123/pipe.mp4": QuarantineCode.DEVICE,
    }
    taken = {p: j for p, j in judged.items() if isinstance(j, Intake)}
    assert set(taken) == set(files) | {"DCIM/20261123/empty.mp4", "DCIM/20261123/bad-\udcff.mp4"}
    assert all(taken[p].doubts == () for p in files)  # listed, same size: nothing to doubt
    assert taken["DCIM/20261123/empty.mp4"].doubts == (NOT_LISTED,)
    assert raw_path_hex(taken["DCIM/20261123/bad-\udcff.mp4"].entry).endswith(b"bad-\xff.mp4".hex())
    assert all("\n" not in q.reason for q in judged.values() if isinstance(q, Quarantine))
    store = EvidenceStore(tmp_path / "store", reserve_bytes=0)
    for intake in taken.values():
        with volume.open(intake.entry) as src:
            copy_and_hash(src, intake.entry.size_bytes, store)
    assert all(store.verify(hashlib.sha256(d).hexdigest()) for d in files.values())
    assert store.verify(hashlib.sha256(b"").hexdigest())


def test_a_size_the_listing_disagrees_with_is_a_doubt_and_the_recorders_hash_is_not_used(
    tmp_path,
):
    card = tmp_path / "card"
    (card / "DCIM").mkdir(parents=True)
    (card / "DCIM" / "ok.mp4").write_bytes(b"clip")
    (card / "DCIM" / "big.mp4").write_bytes(b"0123456789")
    listing = {"DCIM/ok.mp4": ListedClip("DCIM/ok.mp4", 99, "ab" * 32)}
    judged = judge_walk(DirectoryMassStorage(card), listing, max_file_bytes=8)
    big = judged["DCIM/big.mp4"]
    assert isinstance(big, Quarantine) and big.code is QuarantineCode.OVERSIZED
    ok = judged["DCIM/ok.mp4"]
    assert isinstance(ok, Intake) and ok.expected_sha256 is None
    assert ok.doubts == ("4 bytes on the card, 99 in the recorder's listing",)


def test_symlinked_directory_is_never_walked_into(tmp_path):
    card = tmp_path / "card"
    card.mkdir()
    (card / "outside").symlink_to(tmp_path)
    entries = list(DirectoryMassStorage(card).walk())
    assert [(e.path, e.kind) for e in entries] == [("outside", EntryKind.SYMLINK)]


def test_a_directory_deeper_than_the_limit_is_broken_and_the_rest_is_walked(tmp_path):
    deep = tmp_path / "card"
    (deep / "a" / "b" / "c" / "d").mkdir(parents=True)
    (deep / "z.mp4").write_bytes(b"clip")
    entries = list(DirectoryMassStorage(deep).walk(WalkLimits(max_depth=2)))
    bad = [e for e in entries if e.kind is EntryKind.BROKEN]
    assert [(e.path, e.depth) for e in bad] == [("a/b/c", 3)]
    assert "deeper than 2" in bad[0].problem and "\n" not in bad[0].problem
    assert "z.mp4" in {e.path for e in entries if e.kind is EntryKind.FILE}


def test_a_walk_with_more_entries_than_the_limit_ends_with_a_broken_entry(tmp_path):
    card = tmp_path / "card"
    card.mkdir()
    for i in range(20):
        (card / f"{i}.mp4").write_bytes(b"x")
    entries = list(DirectoryMassStorage(card).walk(WalkLimits(max_entries=10)))
    assert len([e for e in entries if e.kind is EntryKind.FILE]) == 10
    assert entries[-1].kind is EntryKind.BROKEN and "more than 10 entries" in entries[-1].problem


def test_a_stranger_stick_in_the_bay_is_refused(tmp_path):
    calls = []
    stick = BlockDevice(node="/dev/sdz1", label="KINGSTON", serial="AA11", fs_type="vfat")
    with pytest.raises(WrongVolume, match="not recorder ZFY00001"):
        MountedMassStorage(
            "1-1.2", "ZFY00001", tmp_path / "mnt", find=lambda port: [stick], run=calls.append
        )
    assert calls == []


def test_a_vfat_recorder_volume_is_mounted_read_only_inert_in_its_code_page_and_unmounted(tmp_path):
    calls = []
    disk = BlockDevice(node="/dev/sdz1", label="ZFY00001", serial="", fs_type="vfat")
    mnt = tmp_path / "mnt"
    volume = MountedMassStorage(
        "1-1.2", "ZFY00001", mnt, find=lambda port: [disk], run=calls.append
    )
    assert volume.volume_label() == "ZFY00001"
    volume.close()
    assert calls == [
        [
            "mount",
            "-o",
            "ro,nosuid,nodev,noexec,codepage=936,iocharset=utf8",
            "/dev/sdz1",
            str(mnt),
        ],
        ["umount", str(mnt)],
    ]


@pytest.mark.timeout(20)
def test_an_exfat_root_directory_loop_is_a_broken_entry_not_a_hang(exfat_image, tmp_path):
    image = tmp_path / "looped.img"
    shutil.copyfile(exfat_image, image)
    with open(image, "r+b") as f:
        boot = f.read(512)
        fat_offset, root = (
            struct.unpack_from("<I", boot, 80)[0],
            struct.unpack_from("<I", boot, 96)[0],
        )
        f.seek(fat_offset * (1 << boot[108]) + root * 4)
        f.write(struct.pack("<I", root))
    volume = ExfatImageMassStorage(image)
    entries = list(volume.walk())
    volume.close()
    bad = [e for e in entries if e.kind is EntryKind.BROKEN]
    assert [e.path for e in bad] == ["/"] and "loops" in bad[0].problem
    assert "\n" not in bad[0].problem


def test_exfat_bytes_past_valid_data_length_read_as_zeros(exfat_image, card_files, tmp_path):
    image = tmp_path / "vdl.img"
    shutil.copyfile(exfat_image, image)
    volume = ExfatImageMassStorage(image)
    entry = next(e for e in volume.walk() if e.path.endswith("0002.MP4"))
    volume.close()
    data = bytearray(image.read_bytes())
    # Stream Extension: ValidDataLength at +8, FirstCluster at +20, DataLength at +24
    at = data.find(struct.pack("<IQ", entry.locator.first_cluster, entry.size_bytes))
    assert at > 0, "stream extension entry not found"
    valid = 1000
    data[at - 12 : at - 4] = struct.pack("<Q", valid)
    file_entry = at - 20 - 32
    assert data[file_entry] == 0x85
    count = data[file_entry + 1]
    data[file_entry + 2 : file_entry + 4] = struct.pack(
        "<H", set_checksum(bytes(data[file_entry : file_entry + 32 * (count + 1)]))
    )
    image.write_bytes(bytes(data))
    volume = ExfatImageMassStorage(image)
    entry = next(e for e in volume.walk() if e.path.endswith("0002.MP4"))
    with volume.open(entry) as f:
        got = f.read()
    volume.close()
    original = card_files[1][entry.path]
    assert got == original[:valid] + bytes(len(original) - valid)


def test_walk_past_its_time_budget_stops_with_one_line():
    now = [0.0]
    budget = WalkBudget(WalkLimits(timeout_s=5), "volume 'X'", monotonic_s=lambda: now[0])
    budget.enter_dir(0)
    now[0] = 6.0
    with pytest.raises(MassStorageError, match="longer than 5 s") as caught:
        budget.enter_dir(1)
    assert "\n" not in str(caught.value)


def test_time_the_walk_is_paused_does_not_count_against_its_budget():
    now = [0.0]
    budget = WalkBudget(WalkLimits(timeout_s=5), "volume 'X'", monotonic_s=lambda: now[0])
    now[0] = 4.0
    budget.pause()
    now[0] = 100.0  # the consumer copies a clip
    budget.resume()
    budget.enter_dir(0)
    now[0] = 102.0
    with pytest.raises(MassStorageError, match="longer than 5 s"):
        budget.tick()

"""Names on a FAT32 recorder card, as firmware really writes them: 8.3 names in the OEM code
page with no long name, NT case flags, long names whose checksum no longer matches, and
long names no host could use. Each is yielded as a file with its raw bytes kept."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from hw.fat32 import FatImageMassStorage
from hw.mass_storage import Entry, EntryKind
from tests import cardgen
from tests.cardgen import Fat32Layout

DAY = "DCIM/20261123"
SHORT = f"{DAY}/GBKTEMP.MP4"  # a valid upper-case 8.3 name: mtools writes no long name
LONG = f"{DAY}/20261123_090000_ZFY00001_000123.MP4"
UNSAFE = {
    "dotdot": "..",
    "slash": "a/b.mp4",
    "backslash": "a\\b.mp4",
    "control": "ctl\x01.mp4",
    "trailing": "trail.mp4...",
    "twin": "clip.mp4",  # beside Clip.MP4
}
PLACEHOLDERS = {key: f"placeholder-{key}-name.mp4" for key in UNSAFE}


def data(seed: str, size: int = 1500) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


@pytest.fixture(scope="module")
def base_card(tmp_path_factory) -> cardgen.CardManifest:
    card = cardgen.make_real_card(tmp_path_factory.mktemp("names") / "base.img", cluster_bytes=512)
    files = {SHORT: data("short"), LONG: data("long"), f"{DAY}/Clip.MP4": data("twin1")}
    files |= {f"{DAY}/{name}": data(key) for key, name in PLACEHOLDERS.items()}
    files[f"{DAY}/{'x' * 251}.MP4"] = data("255")
    cardgen.add_files(card, files)
    return card


@pytest.fixture
def card(base_card, tmp_path) -> Path:
    image = tmp_path / "card.img"
    subprocess.run(["cp", "--sparse=always", str(base_card.image), str(image)], check=True)
    return image


def entries_of(image: Path, **options) -> dict[bytes, Entry]:
    volume = FatImageMassStorage(image, **options)
    try:
        return {b"/".join(e.raw_path): e for e in volume.walk() if e.kind is EntryKind.FILE}
    finally:
        volume.close()


def raw_path(folder: str, last: bytes) -> bytes:
    return b"/".join([p.encode() for p in folder.split("/")] + [last])


def read(image: Path, entry_path: str) -> bytes:
    volume = FatImageMassStorage(image)
    try:
        entry = next(e for e in volume.walk() if e.path == entry_path)
        with volume.open(entry) as f:
            return f.read()
    finally:
        volume.close()


def test_gbk_short_names_decode_with_the_code_page_and_keep_raw_bytes(card):
    Fat32Layout(card).set_short_name(SHORT, "录像01".encode("gbk") + b"  MP4")
    got = entries_of(card)[raw_path(DAY, "录像01.MP4".encode("gbk"))]
    assert got.path == f"{DAY}/录像01.MP4"
    assert got.raw_name == b"\xc2\xbc\xcf\xf101.MP4" and got.name_encoding == "cp936"
    assert read(card, got.path) == data("short")


def test_another_oem_code_page_decodes_the_same_bytes_its_own_way(card):
    Fat32Layout(card).set_short_name(SHORT, "录像01".encode("gbk") + b"  MP4")
    got = entries_of(card, oem_code_page="cp437")[raw_path(DAY, "录像01.MP4".encode("gbk"))]
    assert got.path == f"{DAY}/" + "录像01".encode("gbk").decode("cp437") + ".MP4"
    assert got.name_encoding == "cp437"


def test_a_short_name_starting_with_0x05_stands_for_0xe5(card):
    Fat32Layout(card).set_short_name(SHORT, b"\x05\xebNOTE  WAV")
    got = entries_of(card)[raw_path(DAY, b"\xe5\xebNOTE.WAV")]
    assert got.path == f"{DAY}/咫NOTE.WAV"


def test_nt_case_flags_lower_the_short_name_but_never_a_double_byte_character(card):
    Fat32Layout(card).set_short_name(SHORT, b"LOWER   MP4", nt_flags=0x18)
    assert entries_of(card)[raw_path(DAY, b"LOWER.MP4")].path == f"{DAY}/lower.mp4"
    Fat32Layout(card).set_short_name(f"{DAY}/LOWER.MP4", "丄AB".encode("gbk") + b"    MP4", 0x08)
    got = entries_of(card)[raw_path(DAY, "丄AB.MP4".encode("gbk"))]
    assert got.path == f"{DAY}/丄ab.MP4"  # 0x41 inside 丄 (81 41) stays as it is


def test_a_long_name_with_a_bad_checksum_falls_back_to_the_short_name(card):
    Fat32Layout(card).set_short_name(LONG, b"VID00042MP4")
    files = entries_of(card)
    assert raw_path(DAY, LONG.split("/")[-1].encode("utf-16-le")) not in files
    got = files[raw_path(DAY, b"VID00042.MP4")]
    assert got.path == f"{DAY}/VID00042.MP4" and got.name_encoding == "cp936"
    assert read(card, got.path) == data("long")


def test_a_long_name_is_kept_as_utf16_bytes(card):
    name = LONG.split("/")[-1]
    got = entries_of(card)[raw_path(DAY, name.encode("utf-16-le"))]
    assert got.path == LONG and got.name_encoding == "utf-16le"
    assert got.raw_path == (b"DCIM", b"20261123", name.encode("utf-16-le"))


@pytest.mark.parametrize("key", sorted(UNSAFE))
def test_unsafe_long_names_are_still_files_with_their_raw_bytes(card, key):
    placeholder = f"{DAY}/{PLACEHOLDERS[key]}"
    Fat32Layout(card).set_long_name(placeholder, UNSAFE[key])
    raw = UNSAFE[key].encode("utf-16-le")
    got = entries_of(card)[raw_path(DAY, raw)]
    assert got.kind is EntryKind.FILE and got.raw_name == raw
    assert got.path == f"{DAY}/{UNSAFE[key]}"
    assert read(card, got.path) == data(key)


def test_case_twins_are_two_files(card):
    Fat32Layout(card).set_long_name(f"{DAY}/{PLACEHOLDERS['twin']}", "clip.mp4")
    files = entries_of(card)
    twins = [e for e in files.values() if e.path.lower() == f"{DAY}/clip.mp4".lower()]
    assert sorted(e.path for e in twins) == [f"{DAY}/Clip.MP4", f"{DAY}/clip.mp4"]


def test_a_255_character_name_is_a_file(card):
    name = "x" * 251 + ".MP4"
    got = entries_of(card)[raw_path(DAY, name.encode("utf-16-le"))]
    assert len(got.path.split("/")[-1]) == 255 and got.size_bytes == 1500


def test_a_lone_surrogate_in_a_long_name_is_kept_as_raw_bytes(card):
    units = [0xD800] + [ord(c) for c in "dd.mp4"]
    Fat32Layout(card).set_long_name(f"{DAY}/{PLACEHOLDERS['dotdot']}", units)
    raw = b"\x00\xd8" + "dd.mp4".encode("utf-16-le")
    got = entries_of(card)[raw_path(DAY, raw)]
    assert got.kind is EntryKind.FILE and got.raw_name == raw

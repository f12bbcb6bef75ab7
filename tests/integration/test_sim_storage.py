"""The simulator's cards are real file systems: labels, clips, hashes and deletions."""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from firmware_bridge.sim import generate_clips, make_storage
from firmware_bridge.sim.clips import clip_content
from firmware_bridge.sim.images import mounted_exfat

SERIAL = "ZFY00042"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="exFAT images need root for FUSE")


@pytest.fixture(scope="module")
def clips():
    return generate_clips(7, size_bytes=6000, seed=3)[0]


def _mtools(*args):
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def test_generated_clips_are_mp4_like_in_date_folders_with_device_hashes(clips):
    videos = [c for c in clips if c.path.endswith(".MP4")]
    assert videos and any(c.is_important for c in videos)
    for clip in videos:
        folder, day, name = clip.path.split("/")
        assert folder == "DCIM" and name.startswith(day + "_") and len(day) == 8
        content = clip_content(clip.seed, clip.size_bytes)
        assert content[4:8] == b"ftyp" and len(content) == clip.size_bytes
        assert hashlib.sha256(content).digest() == clip.sha256
    assert len({c.sha256 for c in clips}) == len(clips)


def test_event_log_has_reasoned_interruptions_resumptions_and_voice_notes():
    clips, events = generate_clips(12, size_bytes=1000, seed=5)
    kinds = [e["kind"] for e in events]
    assert [e["index"] for e in events] == list(range(len(events)))
    interrupted = [e for e in events if e["kind"] == 3]
    assert interrupted and all(1 <= e["reason"] <= 7 for e in interrupted)
    assert kinds.count(4) == len(interrupted)
    notes = [e["clip_path"] for e in events if e["kind"] == 5]
    assert 0 < len(notes) < len(interrupted)  # one interruption is left unexplained
    assert set(notes) <= {c.path for c in clips}


def test_fat32_image_is_labelled_with_the_serial_and_holds_every_clip(tmp_path, clips):
    storage = make_storage("fat32", tmp_path / "card.img", SERIAL, clips)
    assert "Volume label is " + SERIAL in _mtools("mlabel", "-i", str(storage.location), "-s", "::")
    listing = _mtools("mdir", "-i", str(storage.location), "-/", "-b", "::/")
    assert sorted(line.lstrip(":/") for line in listing.split() if "." in line) == sorted(
        c.path for c in clips
    )
    for clip in clips:
        raw = subprocess.run(
            ["mtype", "-i", str(storage.location), "::/" + clip.path],
            capture_output=True,
            check=True,
        ).stdout
        assert hashlib.sha256(raw).digest() == clip.sha256


@needs_root
def test_exfat_image_is_labelled_with_the_serial_and_holds_every_clip(tmp_path, clips):
    storage = make_storage("exfat", tmp_path / "card.img", SERIAL, clips)
    dump = _mtools("dump.exfat", str(storage.location))
    assert f"Volume label: {SERIAL}" in " ".join(dump.split())
    with mounted_exfat(storage.location) as root:
        for clip in clips:
            assert hashlib.sha256((root / clip.path).read_bytes()).digest() == clip.sha256


@pytest.mark.parametrize("kind", ["dir", "fat32", pytest.param("exfat", marks=needs_root)])
def test_storage_hashes_and_deletes_on_the_real_card(tmp_path, clips, kind):
    storage = make_storage(kind, tmp_path / "card", SERIAL, clips)
    victim, kept = clips[0], clips[1:]
    assert storage.sha256(victim.path) == victim.sha256
    storage.delete(victim.path)
    assert [path for path, _ in storage.list_files()] == sorted(c.path for c in kept)
    fresh = type(storage)(Path(storage.location), SERIAL)  # no cache: read the card again
    assert [path for path, _ in fresh.list_files()] == sorted(c.path for c in kept)
    assert fresh.free_bytes() <= fresh.total_bytes()


def test_one_undecodable_file_name_does_not_stop_the_listing(tmp_path, clips):
    from firmware_bridge.sim import SimBoard

    storage = make_storage("dir", tmp_path / "card", SERIAL, clips)
    (storage.location / "DCIM" / os.fsdecode(b"bad\xff.MP4")).write_bytes(b"x")
    listed = [clip["path"] for clip in SimBoard(storage, clips=clips).list_clips()]
    assert "DCIM/bad\ufffd.MP4" in listed
    assert len(listed) == len(clips) + 1
    for name in listed:
        name.encode("utf-8")  # every listed name can go on the wire

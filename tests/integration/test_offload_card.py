"""Offload takes everything a card holds, exactly, whatever the card or the recorder does.

Cards here are real FAT32 images (mkfs.vfat, mtools, byte patches) or directories, served by
the simulated recorder (the real firmware on a pty). Most tests drive the Offloader directly
with a listing they choose, as a recorder whose listing is wrong or bare would send it;
the recorder still answers DeleteClip itself, checking its own hash of its own card.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from dock import journal, ledger
from dock.db.models import Clip
from firmware_bridge.client import RecorderClient

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
OFFICER = "000001"


# -- cards ------------------------------------------------------------------------------------


def mtools(*args: str) -> None:
    subprocess.run(
        list(args), check=True, capture_output=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    )


def put_file(image: Path, card_path: str, data: bytes, tmp_path: Path) -> None:
    """Copy `data` onto the image at card_path, making its folders."""
    parts = card_path.split("/")
    for depth in range(1, len(parts)):
        folder = "::/" + "/".join(parts[:depth])
        subprocess.run(
            ["mmd", "-D", "s", "-i", str(image), folder],
            capture_output=True,
            env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
        )
    source = tmp_path / "staging.bin"
    source.write_bytes(data)
    mtools("mcopy", "-o", "-i", str(image), str(source), "::/" + card_path)


def dir_entry_offset(image: Path, short_name: bytes) -> int:
    """Where the 32-byte FAT directory entry of an 8.3 name ("CLIPB   MP4") sits."""
    data = image.read_bytes()
    at = data.find(short_name)
    while at >= 0 and at % 32:
        at = data.find(short_name, at + 1)
    assert at >= 0, short_name
    return at


def first_cluster(image: Path, short_name: bytes) -> int:
    at = dir_entry_offset(image, short_name)
    with open(image, "rb") as f:
        f.seek(at + 20)
        hi = struct.unpack("<H", f.read(2))[0]
        f.seek(at + 26)
        lo = struct.unpack("<H", f.read(2))[0]
    return hi << 16 | lo


def point_entry_at(image: Path, short_name: bytes, cluster: int, size: int | None = None) -> None:
    """Patch a directory entry's first cluster (and size): a cross-link or a loop."""
    at = dir_entry_offset(image, short_name)
    with open(image, "r+b") as f:
        f.seek(at + 20)
        f.write(struct.pack("<H", cluster >> 16))
        f.seek(at + 26)
        f.write(struct.pack("<H", cluster & 0xFFFF))
        if size is not None:
            f.seek(at + 28)
            f.write(struct.pack("<I", size))


def blob(size: int, seed: int) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size)


# -- the recorder and the offload, driven directly --------------------------------------------


class Docked:
    """A registered, paired recorder in bay 1, its card exposed, a client authenticated."""

    def __init__(self, dock, recorder, bay: int = 1) -> None:
        self.dock = dock
        self.recorder = recorder
        self.bay = bay
        self.port = f"1-1.{bay}"
        recorder.port_of["port"] = self.port
        kind, location = recorder.card
        dock.volumes.insert(self.port, kind, location, recorder.board.serial())
        self.client = RecorderClient.open(recorder.plug())
        self.client.hello()
        with dock.db.transaction() as session:
            key = ledger.paired_key(session, recorder.board.serial())
        self.client.authenticate(key)

    def listing(self):
        self.client.set_mass_storage(True)  # the recorder lists its card afresh
        return self.client.list_clips()

    def offload(self, listing=None):
        clips = self.listing() if listing is None else listing
        serial = self.recorder.board.serial()
        return self.dock.offloader.offload(self.bay, self.port, self.client, serial, OFFICER, clips)

    def close(self) -> None:
        self.client.close()
        self.recorder.unplug()


@pytest.fixture
def docked_with(dock):
    made: list[Docked] = []

    def make(recorder) -> Docked:
        d = Docked(dock, recorder)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def fat32_recorder(dock, serial: str = "ZFY60001"):
    """A recorder whose card is an empty FAT32 image labelled with its serial."""
    return dock.recorder(serial, clip_count=0, card="fat32")


def card_files(recorder) -> dict[str, int]:
    recorder.storage.rescan()
    return dict(recorder.storage.list_files())


def clip_rows(dock) -> dict[str, Clip]:
    with dock.db.transaction() as session:
        rows = list(session.scalars(select(Clip)))
        session.expunge_all()
    return {r.source_path: r for r in rows}


def journal_of(dock, kind: str):
    with dock.db.transaction() as session:
        return [e for e in journal.read_after(session, 0, limit=100_000) if e.type == kind]


def without_hashes(listing):
    """The listing as a recorder that keeps no hash of its own (GA/T 947) sends it."""
    return [replace(c, sha256=b"") for c in listing]


# -- every file comes off ---------------------------------------------------------------------


@pytest.mark.parametrize("has_device_hash", [True, False])
def test_a_zero_length_clip_is_copied(dock, docked_with, tmp_path, has_device_hash):
    recorder = fat32_recorder(dock)
    image = recorder.card[1]
    put_file(image, "DCIM/20261201/EMPTY.MP4", b"", tmp_path)
    put_file(image, "DCIM/20261201/CLIP.MP4", blob(70_000, 1), tmp_path)
    d = docked_with(recorder)
    listing = d.listing()
    if has_device_hash:
        listing = [
            replace(
                c,
                sha256=bytes.fromhex(
                    hashlib.sha256(
                        b"" if c.path.endswith("EMPTY.MP4") else blob(70_000, 1)
                    ).hexdigest()
                ),
            )
            for c in listing
        ]
    else:
        listing = without_hashes(listing)
    report = d.offload(listing)
    rows = clip_rows(dock)
    empty = rows["DCIM/20261201/EMPTY.MP4"]
    assert empty.sha256 == EMPTY_SHA256 and empty.size_bytes == 0
    assert dock.store.verify(EMPTY_SHA256)
    expected = "device_hash" if has_device_hash else "size_only"
    assert {r.verification for r in rows.values()} == {expected}
    assert report.stored == 2 and report.problem() == ""
    assert card_files(recorder) == {}  # both proven, both freed


def test_an_unlisted_file_is_copied_and_never_deleted(dock, docked_with, tmp_path):
    recorder = fat32_recorder(dock)
    image = recorder.card[1]
    put_file(image, "DCIM/20261201/LISTED.MP4", blob(50_000, 2), tmp_path)
    put_file(image, "DCIM/20261201/HIDDEN.MP4", blob(40_000, 3), tmp_path)
    d = docked_with(recorder)
    listing = [c for c in d.listing() if not c.path.endswith("HIDDEN.MP4")]
    report = d.offload(without_hashes(listing))
    rows = clip_rows(dock)
    hidden = rows["DCIM/20261201/HIDDEN.MP4"]
    assert hidden.sha256 == hashlib.sha256(blob(40_000, 3)).hexdigest()
    assert (hidden.is_listed, hidden.verification) == (False, "not_verified")
    assert hidden.verification_reason == "not listed by the recorder"
    assert rows["DCIM/20261201/LISTED.MP4"].verification == "size_only"
    assert card_files(recorder) == {"DCIM/20261201/HIDDEN.MP4": 40_000}
    assert report.unlisted == 1 and report.deleted == 1
    stored = [
        e for e in journal_of(dock, "clip.stored") if e.data["source_path"].endswith("HIDDEN.MP4")
    ]
    assert stored[0].data["verification"] == "not_verified" and not stored[0].data["is_listed"]


@pytest.mark.parametrize("has_device_hash", [True, False])
def test_cross_linked_clips_are_copied_not_verified_and_kept_on_the_card(
    dock, docked_with, tmp_path, has_device_hash
):
    recorder = fat32_recorder(dock)
    image = recorder.card[1]
    a, b = blob(96 * 1024, 4), blob(96 * 1024, 5)
    put_file(image, "DCIM/CLIPA.MP4", a, tmp_path)
    put_file(image, "DCIM/CLIPB.MP4", b, tmp_path)
    put_file(image, "DCIM/CLIPC.MP4", blob(10_000, 6), tmp_path)
    # CLIPB's chain now starts in CLIPA's clusters: two files own the same clusters.
    point_entry_at(image, b"CLIPB   MP4", first_cluster(image, b"CLIPA   MP4"), 48 * 1024)
    d = docked_with(recorder)
    listing = without_hashes(d.listing())
    if has_device_hash:  # what the recorder hashed when it recorded each clip
        recorded = {"CLIPA.MP4": a, "CLIPB.MP4": b[: 48 * 1024], "CLIPC.MP4": blob(10_000, 6)}
        listing = [
            replace(c, sha256=hashlib.sha256(recorded[c.path.split("/")[-1]]).digest())
            for c in listing
        ]
    report = d.offload(listing)
    rows = clip_rows(dock)
    assert rows["DCIM/CLIPA.MP4"].verification == "not_verified"
    assert rows["DCIM/CLIPA.MP4"].verification_reason
    if has_device_hash:  # CLIPB's bytes are CLIPA's: its own hash catches it, nothing stored
        assert "DCIM/CLIPB.MP4" not in rows and report.failed == 1
    else:  # only the cluster map can tell: copied as read, not verified
        assert rows["DCIM/CLIPB.MP4"].verification == "not_verified"
    assert rows["DCIM/CLIPC.MP4"].verification in ("device_hash", "size_only")
    assert set(card_files(recorder)) == {"DCIM/CLIPA.MP4", "DCIM/CLIPB.MP4"}
    assert report.deleted == 1
    assert "not verified" in report.problem()
    deleted = {e.data["source_path"] for e in journal_of(dock, "clip.delete_requested")}
    assert deleted == {"DCIM/CLIPC.MP4"}


def test_a_looping_directory_does_not_stop_the_rest_of_the_card(dock, docked_with, tmp_path):
    recorder = fat32_recorder(dock)
    image = recorder.card[1]
    put_file(image, "DCIM/LOOP/INSIDE.MP4", blob(5_000, 7), tmp_path)
    put_file(image, "DCIM/GOOD1.MP4", blob(30_000, 8), tmp_path)
    put_file(image, "MISC/GOOD2.MP4", blob(30_000, 9), tmp_path)
    d = docked_with(recorder)
    listing = without_hashes(d.listing())
    root_cluster = struct.unpack_from("<I", image.read_bytes()[:512], 44)[0]
    point_entry_at(image, b"LOOP       ", root_cluster)  # DCIM/LOOP points back to the root
    report = d.offload(listing)
    rows = clip_rows(dock)
    assert {"DCIM/GOOD1.MP4", "MISC/GOOD2.MP4"} <= set(rows)
    unreadable = journal_of(dock, "card.directory_unreadable")
    assert [e.data["source_path"] for e in unreadable] == ["DCIM/LOOP"]
    assert "\n" not in unreadable[0].data["reason"]
    assert report.unreadable == 1 and report.deleted == 0  # a walk with a hole frees nothing
    assert "could not be read" in report.problem()


def test_odd_and_unsafe_names_are_copied_under_their_raw_bytes(dock, docked_with, tmp_path):
    recorder = dock.recorder("ZFY60001", clip_count=0)  # a directory card
    card = recorder.card[1]
    (card / "DCIM").mkdir()
    raw_names = [b"bad\xffname.MP4", b"ctl\x07bell.MP4", b"trailing.", b"A.MP4", b"a.MP4"]
    for i, raw in enumerate(raw_names):
        with open(os.fsencode(card / "DCIM") + b"/" + raw, "wb") as f:
            f.write(blob(1000 + i, 20 + i))
    d = docked_with(recorder)
    d.offload(without_hashes(d.listing()))
    rows = clip_rows(dock)
    by_raw = {r.raw_path.split("/")[-1]: r for r in rows.values()}
    assert set(by_raw) == {raw.hex() for raw in raw_names}
    for r in rows.values():
        assert r.source_path.isprintable()
    assert by_raw[b"bad\xffname.MP4".hex()].verification == "not_verified"  # listed as U+FFFD
    assert by_raw[b"A.MP4".hex()].sha256 != by_raw[b"a.MP4".hex()].sha256  # case twins both


# -- what the card says about a clip ----------------------------------------------------------


def test_clip_times_officer_and_important_mark_come_from_the_card_when_the_listing_has_none(
    dock, docked_with, tmp_path
):
    recorder = fat32_recorder(dock)
    image = recorder.card[1]
    local = (datetime.now(UTC) - timedelta(hours=2)).astimezone(timezone(timedelta(hours=8)))
    name = f"{local:%Y%m%d_%H%M%S}_ZFY60001_000777.MP4"
    put_file(image, f"DCIM/{local:%Y%m%d}/{name}", blob(20_000, 30), tmp_path)
    put_file(image, f"IMPORTANT/{name[:-4]}_B.MP4", blob(20_000, 31), tmp_path)
    put_file(image, "DCIM/LOCKED.MP4", blob(20_000, 32), tmp_path)
    mtools("mattrib", "+r", "-i", str(image), "::/DCIM/LOCKED.MP4")
    d = docked_with(recorder)
    listing = [replace(c, start_utc_s=0, end_utc_s=0) for c in without_hashes(d.listing())]
    d.offload(listing)  # a recorder that lists no times
    rows = clip_rows(dock)
    clip = rows[f"DCIM/{local:%Y%m%d}/{name}"]
    assert clip.time_source == "card_name"
    assert clip.recorded_start_utc == local.replace(microsecond=0).astimezone(UTC)
    assert not clip.is_late and clip.recorded_start_utc.year > 2000
    assert "officer 000777 in the card's name" in clip.metadata_disagreements
    assert rows[f"IMPORTANT/{name[:-4]}_B.MP4"].is_important
    assert rows["DCIM/LOCKED.MP4"].is_important  # the read-only attribute
    assert not clip.is_important


def test_a_recorder_that_lists_no_times_does_not_make_clips_1970_and_late(dock, docked_with):
    recorder = dock.recorder("ZFY60001", clip_count=0)
    card = recorder.card[1]
    (card / "DCIM").mkdir()
    (card / "DCIM" / "clip.MP4").write_bytes(blob(3000, 40))
    d = docked_with(recorder)
    d.offload([replace(c, start_utc_s=0, end_utc_s=0) for c in without_hashes(d.listing())])
    (clip,) = clip_rows(dock).values()
    assert clip.recorded_start_utc.year > 2000 and not clip.is_late
    assert clip.time_source in ("card_times", "none")


# -- the recorder's answers -------------------------------------------------------------------


def test_a_refused_delete_is_journaled_and_the_rest_come_off(dock, docked_with):
    recorder = dock.recorder("ZFY60001", clip_count=3)  # the recorder keeps its own hashes
    card = recorder.card[1]
    files = sorted(p for p in card.rglob("*.MP4"))
    changed = files[0]
    changed.write_bytes(blob(changed.stat().st_size, 50))  # the card no longer matches its record
    d = docked_with(recorder)
    # It does not send its hashes in the listing, but checks them before deleting.
    report = d.offload(without_hashes(d.listing()))
    refused = journal_of(dock, "clip.delete_refused")
    changed_path = changed.relative_to(card).as_posix()
    assert [e.data["source_path"] for e in refused] == [changed_path]
    assert refused[0].data["code"] == 6 and refused[0].data["error"] == "hash does not match"
    assert report.delete_refused == 1
    assert set(card_files(recorder)) == {changed_path}  # every other file came off and was freed
    assert report.deleted >= 2 and any("refused to delete" in p for p in report.problems)
    assert "refused" in report.summary()


class DockDied(BaseException):
    """Stands for the dock's process ending here."""


def test_a_deletion_the_dock_never_confirmed_is_confirmed_at_the_next_docking(
    dock, docked_with, monkeypatch
):
    recorder = dock.recorder("ZFY60001", clip_count=2)
    d = docked_with(recorder)
    real_delete = RecorderClient.delete_clip

    def delete_then_die(client, path, sha256):
        real_delete(client, path, sha256)
        raise DockDied

    monkeypatch.setattr(RecorderClient, "delete_clip", delete_then_die)
    with pytest.raises(DockDied):
        d.offload()
    monkeypatch.setattr(RecorderClient, "delete_clip", real_delete)
    (requested,) = journal_of(dock, "clip.delete_requested")
    assert journal_of(dock, "clip.deleted_from_recorder") == []
    d.offload()
    confirmations = journal_of(dock, "clip.deleted_from_recorder")
    late = [e for e in confirmations if e.data["is_confirmed_at_redocking"]]
    assert [e.data["source_path"] for e in late] == [requested.data["source_path"]]
    assert late[0].data["sha256"] == requested.data["sha256"]
    assert card_files(recorder) == {}


# -- the store ----------------------------------------------------------------------------------


def test_a_damaged_stored_object_is_repaired_from_the_recorder(make_dock):
    dock = make_dock(offload={"delete_policy": "never"})
    recorder = dock.recorder("ZFY60001", clip_count=3)
    d = Docked(dock, recorder)
    try:
        d.offload()
        rows = clip_rows(dock)
        victim = sorted(rows.values(), key=lambda r: r.source_path)[0]
        path = dock.store.path_of(victim.sha256)
        os.chmod(path, 0o644)
        path.write_bytes(b"\0" * victim.size_bytes)  # the disk rotted under it
        report = d.offload()
    finally:
        d.close()
    assert dock.store.verify(victim.sha256)
    assert report.repaired == 1 and report.already_stored == len(rows) and not report.stopped
    damaged = journal_of(dock, "store.object_damaged")
    repaired = journal_of(dock, "store.object_repaired")
    assert [e.data["sha256"] for e in damaged] == [victim.sha256]
    assert [e.data["sha256"] for e in repaired] == [victim.sha256]
    kept = dock.store.root / repaired[0].data["damaged_copy"]
    assert kept.read_bytes() == b"\0" * victim.size_bytes  # the damaged bytes kept to examine
    assert any("dock store verify" in p for p in report.problems)


def test_store_verify_names_every_missing_or_changed_object(dock, docked_with):
    from dock.clock import SystemClock
    from dock.offload.fixity import verify_store

    recorder = dock.recorder("ZFY60001", clip_count=3)
    d = docked_with(recorder)
    d.offload()
    rows = sorted(clip_rows(dock).values(), key=lambda r: r.source_path)
    assert verify_store(dock.db, dock.store, SystemClock()).is_intact
    changed, missing = rows[0], rows[1]
    os.chmod(dock.store.path_of(changed.sha256), 0o644)
    dock.store.path_of(changed.sha256).write_bytes(b"x")
    os.unlink(dock.store.path_of(missing.sha256))
    report = verify_store(dock.db, dock.store, SystemClock())
    assert sorted((p.sha256, p.is_missing) for p in report.problems) == sorted(
        [(changed.sha256, False), (missing.sha256, True)]
    )
    assert len(journal_of(dock, "store.object_damaged")) == 2
    # A share checks those checked longest ago (here: never successfully) first.
    share = verify_store(dock.db, dock.store, SystemClock(), share=0.3)
    assert share.checked == math.ceil(0.3 * len(rows)) == 2
    assert {p.sha256 for p in share.problems} == {changed.sha256, missing.sha256}


def patch_lfn(image: Path, old: str, new_units: list[int]) -> None:
    """Rewrite a one-slot long name in place (mtools refuses hostile names)."""
    data = image.read_bytes()
    start = data.find(old[:5].encode("utf-16-le")) - 1
    assert start > 0, f"LFN for {old} not found"
    raw = struct.pack("<13H", *(new_units + [0] + [0xFFFF] * 13)[:13])
    with open(image, "r+b") as f:
        for at, piece in ((1, raw[:10]), (14, raw[10:22]), (28, raw[22:26])):
            f.seek(start + at)
            f.write(piece)


def test_unsafe_long_names_are_copied_and_never_sent_back_to_delete(dock, docked_with, tmp_path):
    recorder = fat32_recorder(dock)
    image = recorder.card[1]
    hostile = {"Clip-xx.mp4": "../../e.mp4", "Note-yy.wav": "..", "Odd-zzz.mp4": "x\\y.mp4"}
    for i, name in enumerate(hostile):
        put_file(image, f"DCIM/{name}", blob(3000 + i, 60 + i), tmp_path)
    put_file(image, "DCIM/GOOD.MP4", blob(3000, 70), tmp_path)
    for old, new in hostile.items():
        patch_lfn(image, old, [ord(c) for c in new])
    d = docked_with(recorder)
    report = d.offload(without_hashes(d.listing()))
    rows = clip_rows(dock)
    names = {bytes.fromhex(r.raw_path.split("/")[-1]).decode("utf-16-le") for r in rows.values()}
    assert set(hostile.values()) <= names  # each copied, its name kept as its raw bytes
    assert all(r.source_path.isprintable() for r in rows.values())
    requested = {e.data["source_path"] for e in journal_of(dock, "clip.delete_requested")}
    assert requested == {"DCIM/GOOD.MP4"}
    assert report.stored == 4


def test_a_backup_boot_sector_that_disagrees_is_journaled_and_the_clips_still_come_off(
    dock, docked_with, tmp_path
):
    recorder = fat32_recorder(dock)
    image = recorder.card[1]
    put_file(image, "DCIM/CLIP.MP4", blob(20_000, 80), tmp_path)
    boot = image.read_bytes()[:512]
    backup_sector = struct.unpack_from("<H", boot, 50)[0]
    bytes_per_sector = struct.unpack_from("<H", boot, 11)[0]
    with open(image, "r+b") as f:  # the backup claims another cluster size
        f.seek(backup_sector * bytes_per_sector + 13)
        f.write(bytes([boot[13] * 2]))
    d = docked_with(recorder)
    report = d.offload(without_hashes(d.listing()))
    problems = [e.data["problem"] for e in journal_of(dock, "card.volume_problem")]
    assert problems and all("\n" not in p for p in problems)
    assert report.card_problems == problems
    assert "DCIM/CLIP.MP4" in clip_rows(dock)

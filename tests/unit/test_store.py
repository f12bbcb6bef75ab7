"""The evidence store: read-only objects named by their hash, never rewritten."""

import hashlib
import os
import stat

import pytest

from dock.offload.store import (
    DiskReserveReached,
    EvidenceStore,
    FixityProblem,
    StoredObjectDamaged,
    StoreError,
)


def put(store: EvidenceStore, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    fd, temp = store.open_temp()
    os.write(fd, data)
    os.close(fd)
    store.place(temp, sha)
    return sha


def test_object_lives_at_its_hash_path_and_is_read_only(tmp_path):
    store = EvidenceStore(tmp_path / "store", reserve_bytes=0)
    sha = put(store, b"clip bytes")
    path = store.path_of(sha)
    assert path == tmp_path / "store" / "objects" / sha[:2] / sha[2:4] / sha
    assert path.read_bytes() == b"clip bytes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.has(sha) and store.verify(sha)


def test_verify_detects_a_changed_object(tmp_path):
    store = EvidenceStore(tmp_path, reserve_bytes=0)
    sha = put(store, b"original")
    path = store.path_of(sha)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    assert not store.verify(sha)


def test_verify_of_a_missing_object_is_false(tmp_path):
    store = EvidenceStore(tmp_path, reserve_bytes=0)
    assert not store.verify("0" * 64)
    assert not store.has("0" * 64)


def test_leftover_temp_files_are_removed_at_start(tmp_path):
    store = EvidenceStore(tmp_path, reserve_bytes=0)
    fd, temp = store.open_temp()
    os.write(fd, b"half a clip")
    os.close(fd)
    again = EvidenceStore(tmp_path, reserve_bytes=0)
    assert again.removed_temp_files == [temp.name]
    assert list(again.tmp_dir.iterdir()) == []


def test_placing_existing_content_keeps_the_first_object_untouched(tmp_path):
    store = EvidenceStore(tmp_path, reserve_bytes=0)
    sha = put(store, b"same")
    before = store.path_of(sha).stat()
    fd, temp = store.open_temp()
    os.write(fd, b"same")
    os.close(fd)
    placed = store.place(temp, sha)
    after = placed.path.stat()
    assert placed.is_duplicate
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert list(store.tmp_dir.iterdir()) == []


def test_reserve_check_refuses_a_clip_that_would_pass_the_reserve(tmp_path):
    store = EvidenceStore(tmp_path, reserve_bytes=0)
    free = store.free_bytes()
    store.ensure_room_for(1)
    with pytest.raises(DiskReserveReached, match="reserve"):
        store.ensure_room_for(free + (1 << 30))
    tight = EvidenceStore(tmp_path, reserve_bytes=free)
    with pytest.raises(DiskReserveReached):
        tight.ensure_room_for(1 << 20)


def test_a_name_that_is_not_a_sha256_is_refused(tmp_path):
    store = EvidenceStore(tmp_path, reserve_bytes=0)
    with pytest.raises(StoreError):
        store.path_of("../../etc/passwd")


def test_two_copies_in_flight_cannot_both_count_the_same_free_space(tmp_path):
    free = {"bytes": 10 << 20}
    store = EvidenceStore(tmp_path, reserve_bytes=1 << 20, disk_free_bytes=lambda _: free["bytes"])
    with store.reserve(6 << 20):
        # Alone it would fit; beside the first it does not.
        with pytest.raises(DiskReserveReached), store.reserve(6 << 20):
            pass
        with store.reserve(3 << 20):  # what is left above the reserve still can
            assert store.free_bytes() == 1 << 20
    assert store.free_bytes() == 10 << 20


def test_room_held_for_a_copy_is_given_back_as_it_reaches_the_disk(tmp_path):
    free = {"bytes": 10 << 20}
    store = EvidenceStore(tmp_path, reserve_bytes=0, disk_free_bytes=lambda _: free["bytes"])
    with store.reserve(4 << 20) as held:
        held.wrote(1 << 20)
        free["bytes"] -= 1 << 20  # the kernel now counts that megabyte as used
        assert store.free_bytes() == 6 << 20  # not counted twice
        held.wrote(10 << 20)  # more than reserved: never gives back more than it held
        free["bytes"] -= 3 << 20
        assert store.free_bytes() == 6 << 20
    assert store.free_bytes() == 6 << 20


def test_a_damaged_object_is_replaced_only_by_bytes_that_match_and_kept_aside(tmp_path):
    store = EvidenceStore(tmp_path, reserve_bytes=0)
    sha = put(store, b"original")
    path = store.path_of(sha)
    os.chmod(path, 0o644)
    path.write_bytes(b"rotten!!")
    fd, temp = store.open_temp()
    os.write(fd, b"original")
    os.close(fd)
    with pytest.raises(StoredObjectDamaged, match="dock store verify"):
        store.place(temp, sha)
    fd, temp = store.open_temp()
    os.write(fd, b"original")
    os.close(fd)
    placed = store.place(temp, sha, may_repair=True)
    assert store.verify(sha) and not placed.is_duplicate
    assert placed.damaged_copy is not None and placed.damaged_copy.read_bytes() == b"rotten!!"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.verify_objects([sha, "0" * 64]) == [FixityProblem("0" * 64, is_missing=True)]

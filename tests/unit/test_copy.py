"""copy_and_hash: one pass, exact copy, nothing placed unless size and hash agree."""

import errno
import hashlib
import io
import os
import stat

import pytest

from dock.offload.copy import SourceUnreadable, VerificationFailed, copy_and_hash
from dock.offload.store import DiskReserveReached, EvidenceStore, StoreWriteFailed

CHUNK = 64 << 10


def clip_bytes(size: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size)


def objects(store: EvidenceStore) -> list:
    return sorted(p for p in store.objects_dir.rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def no_buffers_left_pooled():
    """Copies pool their buffers process-wide: leave the pool as each test found it."""
    from dock.offload import copy as copy_module

    before = list(copy_module._pool)
    yield
    copy_module._pool[:] = before


@pytest.fixture
def store(tmp_path):
    return EvidenceStore(tmp_path / "store", reserve_bytes=0)


def test_copy_stores_an_exact_read_only_copy_under_its_hash(store):
    data = clip_bytes(5 * CHUNK + 123)
    result = copy_and_hash(io.BytesIO(data), len(data), store, chunk_bytes=CHUNK)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size_bytes == len(data)
    assert result.path.read_bytes() == data
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o444
    assert not result.is_duplicate and not result.is_verified
    assert list(store.tmp_dir.iterdir()) == []


def test_copy_matching_the_recorders_hash_is_verified(store):
    data = clip_bytes(3 * CHUNK)
    sha = hashlib.sha256(data).hexdigest()
    result = copy_and_hash(
        io.BytesIO(data), len(data), store, expected_sha256=sha, chunk_bytes=CHUNK
    )
    assert result.is_verified and result.sha256 == sha


def test_recorders_raw_hash_bytes_are_accepted_and_empty_means_none(store):
    data = clip_bytes(CHUNK)
    raw = hashlib.sha256(data).digest()
    assert copy_and_hash(io.BytesIO(data), len(data), store, expected_sha256=raw).is_verified
    again = copy_and_hash(io.BytesIO(data), len(data), store, expected_sha256=b"")
    assert not again.is_verified and again.is_duplicate


def test_second_copy_of_same_content_is_recognised_not_rewritten(store):
    data = clip_bytes(2 * CHUNK + 7)
    first = copy_and_hash(io.BytesIO(data), len(data), store, chunk_bytes=CHUNK)
    inode = first.path.stat().st_ino
    second = copy_and_hash(io.BytesIO(data), len(data), store, chunk_bytes=CHUNK)
    assert second.is_duplicate and second.path == first.path
    assert second.path.stat().st_ino == inode
    assert objects(store) == [first.path]
    assert list(store.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("listed_delta", [-1, +1, -CHUNK])
def test_size_mismatch_places_nothing_and_leaves_no_temp(store, listed_delta):
    data = clip_bytes(2 * CHUNK)
    with pytest.raises(VerificationFailed, match="recorder lists"):
        copy_and_hash(io.BytesIO(data), len(data) + listed_delta, store, chunk_bytes=CHUNK)
    assert objects(store) == []
    assert list(store.tmp_dir.iterdir()) == []


def test_hash_mismatch_places_nothing_and_leaves_no_temp(store):
    data = clip_bytes(CHUNK + 5)
    wrong = hashlib.sha256(b"another clip").hexdigest()
    with pytest.raises(VerificationFailed, match="SHA-256"):
        copy_and_hash(io.BytesIO(data), len(data), store, expected_sha256=wrong, chunk_bytes=CHUNK)
    assert objects(store) == []
    assert list(store.tmp_dir.iterdir()) == []


class ChangingClip(io.FileIO):
    """A clip file that the recorder changes right after the dock's first read."""

    def __init__(self, path, change) -> None:
        super().__init__(path, "rb")
        self.change = change
        self.reads = 0

    def readinto(self, buf) -> int:
        n = super().readinto(buf)
        self.reads += 1
        if self.reads == 1:
            self.change()
        return n


def test_clip_that_grows_while_read_is_rejected(store, tmp_path):
    clip = tmp_path / "clip.mp4"
    data = clip_bytes(4 * CHUNK)
    clip.write_bytes(data)

    def append() -> None:
        with open(clip, "ab") as f:
            f.write(b"recorder still writing")

    with ChangingClip(clip, append) as src, pytest.raises(VerificationFailed):
        copy_and_hash(src, len(data), store, chunk_bytes=CHUNK)
    assert objects(store) == []
    assert list(store.tmp_dir.iterdir()) == []


def test_clip_rewritten_while_read_fails_the_recorders_hash(store, tmp_path):
    clip = tmp_path / "clip.mp4"
    data = clip_bytes(4 * CHUNK)
    clip.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()

    def overwrite_tail() -> None:
        with open(clip, "r+b") as f:
            f.seek(3 * CHUNK)
            f.write(b"\0" * CHUNK)

    with ChangingClip(clip, overwrite_tail) as src, pytest.raises(VerificationFailed):
        copy_and_hash(src, len(data), store, expected_sha256=sha, chunk_bytes=CHUNK)
    assert objects(store) == []
    assert list(store.tmp_dir.iterdir()) == []


class FailingCard(io.RawIOBase):
    def __init__(self, good_bytes: int) -> None:
        self.left = good_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.left <= 0:
            raise OSError(5, "Input/output error")
        n = min(len(buf), self.left)
        buf[:n] = b"\1" * n
        self.left -= n
        return n


def test_card_read_error_is_one_line_and_stores_nothing(store):
    with pytest.raises(SourceUnreadable) as caught:
        copy_and_hash(FailingCard(CHUNK), 4 * CHUNK, store, chunk_bytes=CHUNK, label="DCIM/A.MP4")
    assert "\n" not in str(caught.value) and "DCIM/A.MP4" in str(caught.value)
    assert objects(store) == []
    assert list(store.tmp_dir.iterdir()) == []


def test_reserve_is_checked_before_anything_is_written(tmp_path):
    probe = EvidenceStore(tmp_path / "s", reserve_bytes=0)
    store = EvidenceStore(tmp_path / "s", reserve_bytes=probe.free_bytes())
    data = clip_bytes(CHUNK)
    with pytest.raises(DiskReserveReached):
        copy_and_hash(io.BytesIO(data), len(data), store, chunk_bytes=CHUNK)
    assert objects(store) == [] and os.listdir(store.tmp_dir) == []


def test_concurrent_copies_from_threads_all_land_intact(store):
    from concurrent.futures import ThreadPoolExecutor

    clips = [clip_bytes(3 * CHUNK + i, seed=i) for i in range(6)]
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda d: copy_and_hash(io.BytesIO(d), len(d), store, chunk_bytes=CHUNK), clips
            )
        )
    assert [r.sha256 for r in results] == [hashlib.sha256(d).hexdigest() for d in clips]
    assert all(store.verify(r.sha256) for r in results)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_disk_that_refuses_a_write_is_a_clean_store_stop_not_an_oserror(store, monkeypatch, code):
    import dock.offload.copy as copy_module

    def refuse(fd, view):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(copy_module, "_write_all", refuse)
    data = clip_bytes(CHUNK)
    with pytest.raises(StoreWriteFailed, match=os.strerror(code)) as caught:
        copy_and_hash(io.BytesIO(data), len(data), store, label="ZFY1 a.MP4")
    assert isinstance(caught.value, DiskReserveReached)  # the offload's clean stop
    assert "\n" not in str(caught.value)
    assert list(store.tmp_dir.iterdir()) == [] and objects(store) == []
    assert store.free_bytes() == store._disk_free_bytes(store.root)  # nothing left reserved


def test_a_zero_length_clip_is_stored_under_the_empty_hash(store):
    result = copy_and_hash(io.BytesIO(b""), 0, store)
    assert result.sha256 == hashlib.sha256(b"").hexdigest() and result.size_bytes == 0
    assert result.path.read_bytes() == b""

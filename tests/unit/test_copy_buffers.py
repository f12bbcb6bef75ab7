"""A bay's copy buffers are reused clip after clip, and never carry one clip into the next."""

from __future__ import annotations

import hashlib
import io
import threading

from dock.offload import copy
from dock.offload.copy import copy_and_hash
from dock.offload.store import EvidenceStore

CHUNK = 64 * 1024


def pooled(chunk_bytes: int) -> list[list[int]]:
    return [[id(buf) for buf in kept] for kept in copy._pool if len(kept[0]) == chunk_bytes]


def test_clips_copied_one_after_another_reuse_one_set_of_three_buffers(tmp_path):
    store = EvidenceStore(tmp_path / "store", reserve_bytes=0)
    copy_and_hash(io.BytesIO(b"a" * (3 * CHUNK)), 3 * CHUNK, store, chunk_bytes=CHUNK)
    first = pooled(CHUNK)
    for fill in (b"b", b"c"):
        copy_and_hash(io.BytesIO(fill * (5 * CHUNK)), 5 * CHUNK, store, chunk_bytes=CHUNK)
    assert pooled(CHUNK) == first
    assert len(first) == 1 and len(first[0]) == 3


def test_a_short_clip_after_a_long_one_hashes_only_its_own_bytes(tmp_path):
    store = EvidenceStore(tmp_path / "store", reserve_bytes=0)
    long_clip = bytes(range(256)) * (2 * CHUNK // 256) + b"tail"
    short_clip = b"short clip"
    copy_and_hash(io.BytesIO(long_clip), len(long_clip), store, chunk_bytes=CHUNK)
    result = copy_and_hash(
        io.BytesIO(short_clip),
        len(short_clip),
        store,
        chunk_bytes=CHUNK,
        expected_sha256=hashlib.sha256(short_clip).hexdigest(),
    )
    assert result.size_bytes == len(short_clip)
    assert result.path.read_bytes() == short_clip


class MeetingSource(io.BytesIO):
    """A clip whose first read waits until the other copy has started too."""

    def __init__(self, data: bytes, barrier: threading.Barrier) -> None:
        super().__init__(data)
        self.barrier: threading.Barrier | None = barrier

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
            self.barrier = None
        return super().readinto(buffer)


def test_buffer_sets_are_as_many_as_copies_that_ran_at_once_not_one_per_bay(tmp_path):
    chunk = 48 * 1024  # a size no other test uses, so the pool's count is this test's
    store = EvidenceStore(tmp_path / "store", reserve_bytes=0)
    barrier = threading.Barrier(2)
    clips = [bytes([n]) * (4 * chunk) for n in (1, 2)]
    bays = [
        threading.Thread(
            target=copy_and_hash,
            args=(MeetingSource(clip, barrier), len(clip), store),
            kwargs={"chunk_bytes": chunk},
        )
        for clip in clips
    ]
    for bay in bays:
        bay.start()
    for bay in bays:
        bay.join(10)
    assert len(pooled(chunk)) == 2
    for n in range(3, 8):  # five more bays, one after another
        clip = bytes([n]) * chunk
        worker = threading.Thread(
            target=copy_and_hash,
            args=(io.BytesIO(clip), len(clip), store),
            kwargs={"chunk_bytes": chunk},
        )
        worker.start()
        worker.join(10)
    assert len(pooled(chunk)) == 2

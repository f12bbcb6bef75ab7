"""The damaged card the offload crash test docks: a real mkfs.vfat/mtools image, byte-patched.

It holds a real-layout shift (`DCIM/20261123/...`, clean clips the dock may free) and, in
`DCIM/20261124`, one of each fault a dropped or badly written card shows:
  - `SUB` points back at the root, `LOOP`'s cluster chain loops (broken directories: while
    either is on the card the walk is not whole and the dock deletes nothing);
  - `X.MP4` and `Y.MP4` share clusters (cross-linked; X learns it only after the walk);
  - `LONG.MP4`'s chain runs past the clusters its size needs;
  - `BAD.MP4` has an 8.3 name whose first byte is no character in any code page, so the
    recorder lists it under another name: on the card, not listed by the recorder;
  - `录像01.MP4` has a GBK 8.3 name, `EMPTY.WAV` has no bytes (both ordinary files).
`repair()` puts the two directories right again, as a technician's fsck would, so a second
phase of kills reaches the deletions with the flagged files still on the card.

What the test holds the dock to is worked out here from what was written, not by the dock's
reader: `expected` maps each readable file's SHA-256 to the verification its Clip row must
end with; `protected` are the card paths that must never leave the card nor change.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests import cardgen

DAY = "DCIM/20261124"
SUB, LOOP = f"{DAY}/SUB", f"{DAY}/LOOP"
X, Y, LONG, EMPTY = f"{DAY}/X.MP4", f"{DAY}/Y.MP4", f"{DAY}/LONG.MP4", f"{DAY}/EMPTY.WAV"
GBK_SHORT = "录像01".encode("gbk") + b"  MP4"
GBK_PATH = f"{DAY}/录像01.MP4"
BAD_SHORT = b"\xffBAD    MP4"
BAD_PATH = f"{DAY}/\udcffBAD.MP4"  # how the dock's reader names it (surrogateescape)
Y_BYTES = 700_000  # Y reads the first Y_BYTES of X's clusters


def blob(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class DamagedCard:
    image: Path
    expected: dict[str, str] = field(default_factory=dict)  # sha256 -> final verification
    protected: dict[str, str] = field(default_factory=dict)  # card path -> sha256, stays
    broken_dirs: tuple[str, ...] = (SUB, LOOP)
    in_broken_dirs: dict[str, str] = field(default_factory=dict)  # path -> sha256
    sub_first_cluster: int = 0
    loop_last_cluster: int = 0
    is_repaired: bool = False


def make_damaged_card(image: Path, serial: str) -> DamagedCard:
    clips = cardgen.shift_clips(datetime(2026, 11, 23, 0, 30, tzinfo=UTC), 5, size_bytes=3_000_000)
    made = cardgen.make_real_card(image, clips=clips, serial=serial, cluster_bytes=4096)
    card = DamagedCard(image)
    for f in made.files:
        card.expected[f.sha256] = "size_only"
    extra = {
        f"{SUB}/INNER.MP4": blob("inner", 1_200_000),
        f"{LOOP}/A.MP4": blob("a", 1_000_000),
        X: blob("x", 1_500_000),
        Y: blob("y", Y_BYTES),
        LONG: blob("long", 1_000_000),
        EMPTY: b"",
        f"{DAY}/SHORT.MP4": blob("gbk", 900_000),
        f"{DAY}/BAD.MP4": blob("bad", 800_000),
    }
    cardgen.add_files(made, extra)
    layout = cardgen.Fat32Layout(image)
    card.sub_first_cluster = layout.locate(SUB).first_cluster
    card.loop_last_cluster = layout.chain(layout.locate(LOOP).first_cluster)[-1]
    cardgen.point_fat32_directory_at(image, SUB, "")
    cardgen.loop_fat32_directory(image, LOOP)
    cardgen.cross_link_fat32(image, X, Y)
    cardgen.lengthen_fat32_chain(image, LONG)
    layout = cardgen.Fat32Layout(image)
    layout.set_short_name(f"{DAY}/SHORT.MP4", GBK_SHORT)
    layout.set_short_name(f"{DAY}/BAD.MP4", BAD_SHORT)

    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    x_sha, y_sha = sha(extra[X]), sha(extra[X][:Y_BYTES])
    card.protected = {
        X: x_sha,  # cross-linked (found after the walk)
        Y: y_sha,  # cross-linked, and a chain longer than its size
        LONG: sha(extra[LONG]),
        BAD_PATH: sha(extra[f"{DAY}/BAD.MP4"]),  # not listed by the recorder
    }
    card.in_broken_dirs = {
        f"{SUB}/INNER.MP4": sha(extra[f"{SUB}/INNER.MP4"]),
        f"{LOOP}/A.MP4": sha(extra[f"{LOOP}/A.MP4"]),
    }
    for sha256 in card.protected.values():
        card.expected[sha256] = "not_verified"
    for sha256 in card.in_broken_dirs.values():
        card.expected[sha256] = "size_only"
    card.expected[sha(b"")] = "size_only"
    card.expected[sha(extra[f"{DAY}/SHORT.MP4"])] = "size_only"
    return card


def repair(card: DamagedCard) -> None:
    """End the loop and point SUB at its own cluster again: the walk becomes whole."""
    layout = cardgen.Fat32Layout(card.image)
    layout.set_fat(card.loop_last_cluster, 0x0FFFFFFF)
    layout.set_first_cluster(SUB, card.sub_first_cluster)
    card.is_repaired = True


def slot_of(image: Path, path: str) -> tuple[bytes, str] | None:
    """A protected file's 32-byte directory entry and the SHA-256 of the clusters its size
    covers, read with the test's own parser (not the dock's reader); None once it is gone."""
    layout = cardgen.Fat32Layout(image)
    folder = path.rpartition("/")[0]
    raw = {X: b"X       MP4", Y: b"Y       MP4", LONG: b"LONG    MP4", BAD_PATH: BAD_SHORT}[path]
    with open(image, "rb") as handle:
        for slot in layout.list_dir(layout.locate(folder).first_cluster).values():
            handle.seek(slot.offset)
            entry = handle.read(32)
            if entry[:11] != raw:
                continue
            digest = hashlib.sha256()
            needed = -(-slot.size_bytes // layout.cluster_bytes)
            for cluster in layout.chain(slot.first_cluster)[:needed]:
                handle.seek(layout.cluster_offset(cluster))
                digest.update(handle.read(layout.cluster_bytes))
            return entry, digest.hexdigest()
    return None


def image_digest(image: Path) -> str:
    digest = hashlib.sha256()
    with open(image, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

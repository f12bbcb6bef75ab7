"""Real-layout and damaged recorder cards for tests: FAT32 and exFAT images made with the
tools a technician has (mkfs.vfat + mtools; mkfs.exfat + exfat-fuse), then damaged with byte
patches exactly where a real fault would sit.

A real-layout card is what a GA/T 947 recorder writes: `DCIM/YYYYMMDD/YYYYMMDD_HHMMSS_
<serial>_<officer>.MP4/.WAV/.JPG`, the important clips read-only under `IMPORTANT/`, the
volume label the recorder's serial, times local to the recorder's zone. `make_real_card`
returns what it wrote (paths, sizes, SHA-256, times) so a test compares the reader with it.

The layout classes (`Fat32Layout`, from firmware_bridge/sim/card_damage.py, and `ExfatLayout`
here) parse just enough of an image to find a file's directory entry and FAT entries; they
are independent of `hw/` on purpose, so a reader bug cannot hide itself in the test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

# The FAT32 layout and its damage are shipped (`make run` damages a card with them too).
from firmware_bridge.sim.card_damage import (  # noqa: F401 (re-exported for the tests)
    Fat32Layout,
    FatSlot,
    cross_link_fat32,
    damage_fat32_backup_boot_sector,
    damage_second_fat,
    lengthen_fat32_chain,
    loop_fat32_chain_after_size,
    loop_fat32_directory,
    point_fat32_directory_at,
    set_fat32_fsinfo_free,
    shorten_fat32_chain,
)

SERIAL = "ZFY00001"
OFFICER = "000123"
CST_MIN = 480  # China Standard Time, where the recorders are set
FAT32_MIN_CLUSTERS = 65525
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CHUNK = 1 << 20
_BASE_BLOCK = hashlib.shake_256(b"cardgen").digest(_CHUNK)


# -- what goes on a card ----------------------------------------------------------------------
@dataclass(frozen=True)
class ClipSpec:
    """One recording: its start (UTC), kind, size and whether the officer marked it important."""

    start_utc: datetime
    kind: str = "MP4"  # MP4 video, WAV voice note, JPG photo
    size_bytes: int = 100_000
    duration_s: int = 60
    officer: str = OFFICER
    is_important: bool = False


@dataclass(frozen=True)
class CardFile:
    path: str  # card path, '/'-joined, no leading '/'
    size_bytes: int
    sha256: str
    start_utc: datetime
    modified_utc: datetime  # what the card's modify time says (2 s FAT resolution)
    is_readonly: bool


@dataclass(frozen=True)
class CardManifest:
    image: Path
    fs: str
    label: str
    cluster_bytes: int
    files: tuple[CardFile, ...]

    def by_path(self) -> dict[str, CardFile]:
        return {f.path: f for f in self.files}

    @property
    def total_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)


def shift_clips(
    first_start_utc: datetime,
    count: int,
    *,
    size_bytes: int = 100_000,
    important_every: int = 0,
    officer: str = OFFICER,
) -> list[ClipSpec]:
    """A shift: every clip a video, a voice note and a photo; some videos marked important."""
    out = []
    for i in range(count):
        start = first_start_utc + timedelta(minutes=10 * i)
        is_important = bool(important_every) and i % important_every == important_every - 1
        out.append(ClipSpec(start, "MP4", size_bytes, 300, officer, is_important))
        out.append(ClipSpec(start + timedelta(seconds=2), "WAV", size_bytes // 10 + 1, 60, officer))
        out.append(ClipSpec(start + timedelta(seconds=4), "JPG", 4096 + i, 0, officer))
    return out


def clip_path(spec: ClipSpec, serial: str, zone_min: int = CST_MIN) -> str:
    local = spec.start_utc.astimezone(timezone(timedelta(minutes=zone_min)))
    name = f"{local:%Y%m%d_%H%M%S}_{serial}_{spec.officer}.{spec.kind}"
    return f"IMPORTANT/{name}" if spec.is_important else f"DCIM/{local:%Y%m%d}/{name}"


def content(seed: str, size_bytes: int) -> Iterator[bytes]:
    """Deterministic, distinct bytes for a clip, fast enough for a gigabyte card."""
    tag = hashlib.sha256(seed.encode()).digest()
    block = bytearray(_BASE_BLOCK)
    for index, start in enumerate(range(0, size_bytes, _CHUNK)):
        block[:40] = tag + index.to_bytes(8, "little")
        yield bytes(block[: min(_CHUNK, size_bytes - start)])


def write_clip(target: Path, seed: str, size_bytes: int) -> str:
    digest = hashlib.sha256()
    with open(target, "wb") as handle:
        for chunk in content(seed, size_bytes):
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest()


def _run(args: Sequence[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        list(args), capture_output=True, text=True, check=False, timeout=600, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {(done.stderr or done.stdout).strip()[:300]}")
    return done.stdout


def _posix_tz(zone_min: int) -> str:
    """POSIX TZ for a fixed offset (east is negative there): 480 -> 'CARD-08:00'."""
    sign = "-" if zone_min >= 0 else "+"
    return f"CARD{sign}{abs(zone_min) // 60:02d}:{abs(zone_min) % 60:02d}"


def stage(root: Path, clips: Sequence[ClipSpec], serial: str, zone_min: int) -> list[CardFile]:
    """Write each clip under `root` in the card layout, its mtime the clip's end."""
    files = []
    for spec in clips:
        rel = clip_path(spec, serial, zone_min)
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        sha = write_clip(target, rel, spec.size_bytes)
        end = spec.start_utc + timedelta(seconds=spec.duration_s)
        end = end.replace(microsecond=0) - timedelta(seconds=end.second % 2)
        os.utime(target, (end.timestamp(), end.timestamp()))
        files.append(CardFile(rel, spec.size_bytes, sha, spec.start_utc, end, spec.is_important))
    return files


def make_real_card(
    path: Path | str,
    *,
    fs: str = "fat32",
    clips: Sequence[ClipSpec] | None = None,
    serial: str = SERIAL,
    cluster_bytes: int = 4096,
    image_bytes: int | None = None,
    zone_min: int = CST_MIN,
    staging: Path | None = None,
) -> CardManifest:
    """A card image in the recorder layout; returns what it wrote.

    FAT32 needs 65525 clusters, so at 32 KiB clusters the image is at least 2.1 GB; the file
    is sparse, so only the clips take disk space. `staging` (a directory) keeps the files as
    written, e.g. for a benchmark's `mcopy` baseline; by default they are removed.
    """
    image = Path(path)
    if clips is None:
        clips = shift_clips(datetime(2026, 11, 23, 0, 30, tzinfo=UTC), 4, important_every=2)
    work = Path(tempfile.mkdtemp(prefix="cardgen-", dir=image.parent))
    root = staging or work / "card"
    root.mkdir(parents=True, exist_ok=True)
    try:
        files = stage(root, clips, serial, zone_min)
        payload = sum(f.size_bytes for f in files)
        if fs == "fat32":
            minimum = (FAT32_MIN_CLUSTERS + 4096) * cluster_bytes + (8 << 20)
            size = max(image_bytes or 0, minimum, payload * 11 // 10 + (16 << 20))
            _make_fat32(image, root, files, serial, cluster_bytes, size, zone_min)
        elif fs == "exfat":
            size = max(image_bytes or 0, payload * 11 // 10 + (32 << 20))
            _make_exfat(image, root, files, serial, cluster_bytes, size)
        else:
            raise ValueError(f"fs must be fat32 or exfat, not {fs!r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return CardManifest(image, fs, serial, cluster_bytes, tuple(files))


def _make_fat32(
    image: Path,
    root: Path,
    files: list[CardFile],
    serial: str,
    cluster_bytes: int,
    size: int,
    zone_min: int,
) -> None:
    with open(image, "wb") as handle:
        handle.truncate(size - size % (1 << 20))
    sectors = str(max(cluster_bytes // 512, 1))
    _run(["mkfs.vfat", "-F", "32", "-s", sectors, "-n", serial[:11], str(image)])
    env = {**os.environ, "TZ": _posix_tz(zone_min), "MTOOLS_SKIP_CHECK": "1"}
    tops = sorted(str(p) for p in root.iterdir())
    if tops:
        _run(["mcopy", "-s", "-m", "-i", str(image), *tops, "::/"], env)
    readonly = ["::/" + f.path for f in files if f.is_readonly]
    if readonly:
        _run(["mattrib", "-i", str(image), "+r", *readonly], env)


def _make_exfat(
    image: Path, root: Path, files: list[CardFile], serial: str, cluster_bytes: int, size: int
) -> None:
    with open(image, "wb") as handle:
        handle.truncate(size - size % (1 << 20))
    _run(["mkfs.exfat", "-L", serial[:11], "-c", str(cluster_bytes), str(image)])
    with mounted_exfat(image) as mnt:
        shutil.copytree(root, mnt, dirs_exist_ok=True)
    layout = ExfatLayout(image)
    for f in files:
        if f.is_readonly:
            layout.set_attributes(f.path, set_bits=0x01)


def add_files(card: CardManifest, files: dict[str, bytes], *, zone_min: int = CST_MIN) -> None:
    """Put extra files on a FAT32 card with mtools (any name mtools accepts)."""
    work = Path(tempfile.mkdtemp(prefix="cardgen-add-", dir=card.image.parent))
    env = {**os.environ, "TZ": _posix_tz(zone_min), "MTOOLS_SKIP_CHECK": "1"}
    try:
        for rel, data in files.items():
            parts = rel.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                subprocess.run(
                    ["mmd", "-D", "s", "-i", str(card.image), "::/" + "/".join(parts[:depth])],
                    capture_output=True,
                    env=env,
                    check=False,
                )  # the folder may exist already
            src = work / "f"
            src.write_bytes(data)
            _run(["mcopy", "-i", str(card.image), str(src), "::/" + rel], env)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def mounted_exfat(image: Path) -> Iterator[Path]:
    """Mount an exFAT image read-write through a loop device and exfat-fuse (root only)."""
    loop = _run(["losetup", "-f", "--show", str(image)]).strip()
    mnt = Path(tempfile.mkdtemp(prefix="cardgen-exfat-"))
    try:
        _run(["mount.exfat-fuse", loop, str(mnt)])
        try:
            yield mnt
        finally:
            _run(["umount", str(mnt)])
    finally:
        _run(["losetup", "-d", loop])
        mnt.rmdir()


def exfat_missing_reason() -> str | None:
    if os.geteuid() != 0:
        return "exFAT cards need root for losetup and FUSE"
    if not Path("/dev/loop-control").exists() or not Path("/dev/fuse").exists():
        return "no loop devices or FUSE here"
    if shutil.which("mount.exfat-fuse") is None:
        return "no mount.exfat-fuse"
    return None


# -- exFAT: entry sets and patches ---------------------------------------------------------------
def exfat_set_checksum(entries: bytes) -> int:
    total = 0
    for i, b in enumerate(entries):
        if i not in (2, 3):
            total = ((((total & 1) << 15) | (total >> 1)) + b) & 0xFFFF
    return total


@dataclass(frozen=True)
class ExfatSet:
    offsets: tuple[int, ...]  # image offset of each 32-byte entry of the set
    first_cluster: int
    size_bytes: int
    is_contiguous: bool


class ExfatLayout:
    def __init__(self, image: Path | str) -> None:
        self.image = Path(image)
        with open(self.image, "rb") as f:
            boot = f.read(512)
        self.fat_offset, _, heap, self.cluster_count, self.root_cluster = struct.unpack_from(
            "<IIIII", boot, 80
        )
        self.bps = 1 << boot[108]
        self.cluster_bytes = self.bps << boot[109]
        self.heap = heap * self.bps

    def get_fat(self, cluster: int) -> int:
        with open(self.image, "rb") as f:
            f.seek(self.fat_offset * self.bps + 4 * cluster)
            return struct.unpack("<I", f.read(4))[0]

    def set_fat(self, cluster: int, value: int) -> None:
        self.patch(self.fat_offset * self.bps + 4 * cluster, struct.pack("<I", value))

    def clusters(self, first: int, size: int | None, contiguous: bool) -> list[int]:
        if contiguous and size is not None:
            return list(range(first, first + -(-size // self.cluster_bytes)))
        out, cluster = [], first
        while 2 <= cluster < 0xFFFFFFF7 and cluster not in out:
            out.append(cluster)
            cluster = self.get_fat(cluster)
        return out

    def _slot_offsets(self, first: int, size: int | None, contiguous: bool) -> list[int]:
        per = self.cluster_bytes // 32
        offsets: list[int] = []
        for c in self.clusters(first, size, contiguous):
            base = self.heap + (c - 2) * self.cluster_bytes
            offsets.extend(base + 32 * i for i in range(per))
        return offsets[: (size // 32) if size is not None else None]

    def read(self, offset: int, length: int) -> bytes:
        with open(self.image, "rb") as f:
            f.seek(offset)
            return f.read(length)

    def patch(self, offset: int, data: bytes) -> None:
        with open(self.image, "r+b") as f:
            f.seek(offset)
            f.write(data)

    def list_dir(self, first: int, size: int | None, contiguous: bool) -> dict[str, ExfatSet]:
        offsets = self._slot_offsets(first, size, contiguous)
        found = {}
        i = 0
        while i < len(offsets):
            e = self.read(offsets[i], 32)
            if e[0] == 0:
                break
            if e[0] != 0x85:
                i += 1
                continue
            count = e[1]
            set_offsets = tuple(offsets[i : i + 1 + count])
            stream = self.read(set_offsets[1], 32)
            name_len = stream[3]
            name = b"".join(self.read(o, 32)[2:] for o in set_offsets[2:])[: 2 * name_len]
            first_cluster, data_len = struct.unpack_from("<IQ", stream, 20)
            found[name.decode("utf-16-le")] = ExfatSet(
                set_offsets, first_cluster, data_len, bool(stream[1] & 0x02)
            )
            i += 1 + count
        return found

    def locate(self, path: str) -> ExfatSet:
        first, size, contiguous = self.root_cluster, None, False
        found = None
        for part in path.strip("/").split("/"):
            found = self.list_dir(first, size, contiguous)[part]
            first, size, contiguous = found.first_cluster, found.size_bytes, found.is_contiguous
        assert found is not None
        return found

    def rewrite(self, path: str, change, *, fix_checksum: bool = True) -> None:
        """Apply `change(entries: bytearray)` to a set, then (by default) re-checksum it."""
        found = self.locate(path)
        entries = bytearray(b"".join(self.read(o, 32) for o in found.offsets))
        change(entries)
        if fix_checksum:
            entries[2:4] = struct.pack("<H", exfat_set_checksum(bytes(entries)))
        for n, offset in enumerate(found.offsets):
            self.patch(offset, bytes(entries[32 * n : 32 * (n + 1)]))

    def set_attributes(self, path: str, *, set_bits: int = 0, clear_bits: int = 0) -> None:
        def change(entries: bytearray) -> None:
            attr = struct.unpack_from("<H", entries, 4)[0]
            struct.pack_into("<H", entries, 4, (attr | set_bits) & ~clear_bits)

        self.rewrite(path, change)

    def set_times(self, path: str, created: datetime, modified: datetime, offset_min: int | None):
        """Write both times as local time at `offset_min` with that offset recorded
        (None: the offset byte's valid bit clear, times local to an unknown zone)."""

        def stamp(moment: datetime) -> tuple[int, int, int]:
            zone = timezone(timedelta(minutes=offset_min or 0))
            local = moment.astimezone(zone) if offset_min is not None else moment
            date = ((local.year - 1980) << 9) | (local.month << 5) | local.day
            time = (local.hour << 11) | (local.minute << 5) | (local.second // 2)
            centis = (local.second % 2) * 100 + local.microsecond // 10_000
            tz = 0 if offset_min is None else 0x80 | ((offset_min // 15) & 0x7F)
            return (date << 16) | time, centis, tz

        def change(entries: bytearray) -> None:
            c, c10, ctz = stamp(created)
            m, m10, mtz = stamp(modified)
            struct.pack_into("<II", entries, 8, c, m)
            entries[20], entries[21], entries[22], entries[23] = c10, m10, ctz, mtz

        self.rewrite(path, change)

    def set_first_cluster(self, path: str, cluster: int, *, contiguous: bool | None = None) -> None:
        def change(entries: bytearray) -> None:
            struct.pack_into("<I", entries, 32 + 20, cluster)
            if contiguous is not None:
                flags = entries[33] | 0x02 if contiguous else entries[33] & ~0x02
                entries[33] = flags

        self.rewrite(path, change)


def break_exfat_entry_set(image: Path, path: str) -> None:
    """A name character changes but the set checksum stays: a torn directory write."""

    def change(entries: bytearray) -> None:
        entries[64 + 2] ^= 0x01

    ExfatLayout(image).rewrite(path, change, fix_checksum=False)


def point_exfat_directory_at_root(image: Path, path: str) -> None:
    layout = ExfatLayout(image)
    layout.set_first_cluster(path, layout.root_cluster, contiguous=False)


def damage_exfat_backup_boot_region(image: Path) -> None:
    layout = ExfatLayout(image)
    at = 12 * layout.bps + 100  # VolumeSerialNumber in the backup boot sector
    layout.patch(at, bytes(b ^ 0xFF for b in layout.read(at, 4)))


def set_exfat_percent_in_use(image: Path, percent: int) -> None:
    ExfatLayout(image).patch(112, bytes([percent]))

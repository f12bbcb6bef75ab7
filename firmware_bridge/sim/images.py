"""FAT32 and exFAT card images, made and changed with the tools a technician would use.

FAT32: mkfs.vfat, filled with mtools `mcopy`, read with pyfatfs, clips removed with `mdel`;
no mount, no root. exFAT: nothing in userspace here writes it, so the image is mounted
through a loop device and exfat-fuse for each change, which needs root; the listing is
taken once and kept until the next delete, so reads stay cheap.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from firmware_bridge.sim.storage import (
    READ_CHUNK_BYTES,
    Storage,
    StorageError,
    card_path,
    scan_tree,
)

FAT32_MIN_CLUSTERS = 65525
IMAGE_HEADROOM_BYTES = 8 * 1024 * 1024


def _run(args: list[str], what: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    except FileNotFoundError:
        raise StorageError(f"{args[0]} not found; install it with `make debs`") from None
    if done.returncode != 0:
        detail = " ".join((done.stderr or done.stdout).split())[:200]
        raise StorageError(f"{what} failed ({args[0]}: {detail})")
    return done.stdout


def _tree_bytes(root: Path) -> int:
    return sum(size for _, size in scan_tree(root))


def _image_size(staging: Path, capacity_bytes: int | None, minimum_bytes: int) -> int:
    wanted = _tree_bytes(staging) * 5 // 4 + IMAGE_HEADROOM_BYTES
    size = max(capacity_bytes or 0, wanted, minimum_bytes)
    return (size + 1024 * 1024 - 1) // (1024 * 1024) * (1024 * 1024)


class Fat32ImageStorage(Storage):
    kind = "fat32"

    @classmethod
    def create(
        cls,
        image: Path,
        label: str,
        staging: Path,
        *,
        capacity_bytes: int | None = None,
        cluster_bytes: int | None = None,
    ) -> "Fat32ImageStorage":
        cluster = cluster_bytes or 512
        minimum = (FAT32_MIN_CLUSTERS + 1024) * cluster + IMAGE_HEADROOM_BYTES
        size = _image_size(staging, capacity_bytes, minimum)
        image.parent.mkdir(parents=True, exist_ok=True)
        with open(image, "wb") as handle:
            handle.truncate(size)
        sectors = str(max(cluster // 512, 1))
        _run(["mkfs.vfat", "-F", "32", "-s", sectors, "-n", label[:11], str(image)], "mkfs.vfat")
        tops = sorted(str(p) for p in staging.iterdir())
        if tops:
            _run(["mcopy", "-s", "-m", "-i", str(image), *tops, "::/"], "mcopy onto the image")
        return cls(image, label)

    def _open(self):
        from pyfatfs.PyFatFS import PyFatFS

        return PyFatFS(str(self.location), read_only=True)

    def _scan(self) -> list[tuple[str, int]]:
        fs = self._open()
        try:
            found = []
            for folder, _dirs, files in fs.walk.walk("/"):
                for info in files:
                    found.append(((folder.rstrip("/") + "/" + info.name).lstrip("/"), info.size))
            return found
        finally:
            fs.close()

    def _sha256(self, path: str) -> bytes:
        fs = self._open()
        try:
            digest = hashlib.sha256()
            with fs.openbin("/" + path, "r") as handle:
                while chunk := handle.read(READ_CHUNK_BYTES):
                    digest.update(chunk)
            return digest.digest()
        finally:
            fs.close()

    def _delete(self, path: str) -> None:
        _run(["mdel", "-i", str(self.location), "::/" + path], f"deleting {path}")

    def total_bytes(self) -> int:
        return self.location.stat().st_size

    def free_bytes(self) -> int:
        out = _run(["mdir", "-i", str(self.location), "::/"], "reading free space")
        match = re.search(r"([\d ,.]+) bytes free", out)
        if match is None:
            raise StorageError(f"mdir did not report free space on {self.location}")
        return int(re.sub(r"\D", "", match.group(1)))


@contextmanager
def mounted_exfat(image: Path) -> Iterator[Path]:
    """Mount an exFAT image read-write through a loop device and exfat-fuse (root only)."""
    if os.geteuid() != 0:
        raise StorageError("an exFAT card needs root (loop device + FUSE); run as root")
    loop = _run(["losetup", "-f", "--show", str(image)], "attaching a loop device").strip()
    mountpoint = Path(tempfile.mkdtemp(prefix="sim-exfat-"))
    try:
        _run(["mount.exfat-fuse", loop, str(mountpoint)], "mounting the exFAT image")
        try:
            yield mountpoint
        finally:
            _run(["umount", str(mountpoint)], "unmounting the exFAT image")
    finally:
        _run(["losetup", "-d", loop], "detaching the loop device")
        mountpoint.rmdir()


class ExfatImageStorage(Storage):
    kind = "exfat"

    @classmethod
    def create(
        cls,
        image: Path,
        label: str,
        staging: Path,
        *,
        capacity_bytes: int | None = None,
        cluster_bytes: int | None = None,
    ) -> "ExfatImageStorage":
        size = _image_size(staging, capacity_bytes, 16 * 1024 * 1024)
        image.parent.mkdir(parents=True, exist_ok=True)
        with open(image, "wb") as handle:
            handle.truncate(size)
        args = ["mkfs.exfat", "-L", label[:11]]
        if cluster_bytes:
            args += ["-c", str(cluster_bytes)]
        _run([*args, str(image)], "mkfs.exfat")
        with mounted_exfat(image) as root:
            shutil.copytree(staging, root, dirs_exist_ok=True)
        return cls(image, label)

    def __init__(self, image: Path, label: str) -> None:
        super().__init__(image, label)
        self._space: tuple[int, int] | None = None

    def _scan(self) -> list[tuple[str, int]]:
        with mounted_exfat(self.location) as root:
            usage = shutil.disk_usage(root)
            self._space = (usage.total, usage.free)
            return scan_tree(root)

    def _sha256(self, path: str) -> bytes:
        with mounted_exfat(self.location) as root:
            digest = hashlib.sha256()
            with open(card_path(root, path), "rb") as handle:
                while chunk := handle.read(READ_CHUNK_BYTES):
                    digest.update(chunk)
            return digest.digest()

    def _delete(self, path: str) -> None:
        with mounted_exfat(self.location) as root:
            card_path(root, path).unlink()
        self._space = None

    def _usage(self) -> tuple[int, int]:
        if self._space is None:
            self.list_files()
            if self._space is None:  # listing was cached before the last delete
                self._files = None
                self.list_files()
        assert self._space is not None
        return self._space

    def total_bytes(self) -> int:
        return self._usage()[0]

    def free_bytes(self) -> int:
        return self._usage()[1]

"""A recorder's storage volume as the dock sees it: a walk of entries and a read of each.

Recorder storage is hostile input. Names on it are data, never host paths: an ``Entry``
carries the path as text (non-UTF-8 bytes kept through surrogateescape), the raw bytes of
every component, the card's own times and read-only mark, and is opened only through the
volume that listed it. A walk never raises for what it finds: a directory that cannot be
read is a BROKEN entry with a one-line reason and the walk goes on with the others; a file
that can be read but not proven exact carries ``problem``. Every walk is bounded in depth,
directories, entries, clusters and time spent inside it (``WalkLimits``); a spent budget
ends the walk with one last BROKEN entry saying which.

Adapters: ``DirectoryMassStorage`` (a directory, the walk-and-read core), ``MountedMassStorage``
(the Pi: the bay's USB disk mounted read-only), and the image readers in ``hw.fat32`` and
``hw.exfat`` for machines whose kernel cannot mount the card's file system.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Protocol

from dock.errors import DockError


class MassStorageError(DockError):
    """The recorder's volume cannot be found, trusted or read."""


class WrongVolume(MassStorageError):
    """The disk in the bay is not the recorder that was identified on the serial link."""


class EntryKind(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    DEVICE = "device"  # block/char devices, FIFOs, sockets
    OTHER = "other"
    BROKEN = "broken"  # a directory (or the rest of a walk) that could not be read; see problem


@dataclass(frozen=True)
class Entry:
    """One thing found on the volume. ``path`` is '/'-joined data, never a host path."""

    path: str
    raw_name: bytes  # the last component as stored (fs bytes, UTF-16LE, or 8.3 bytes)
    size_bytes: int
    kind: EntryKind
    depth: int = 0
    locator: object = field(default=None, compare=False, repr=False)  # adapter-private
    raw_path: tuple[bytes, ...] = ()  # every component's raw bytes, root first
    name_encoding: str = ""  # how raw_name decodes: "utf-16le", the OEM code page, "fs"
    created_utc: datetime | None = None
    modified_utc: datetime | None = None
    is_readonly: bool = False  # the read-only attribute: recorders mark important clips so
    problem: str | None = None  # readable but not proven exact: copy, never delete on the card


@dataclass(frozen=True)
class WalkLimits:
    max_depth: int = 16
    max_dirs: int = 10_000
    max_entries: int = 200_000
    timeout_s: float = 60.0  # time spent inside the walk, not in the consumer between entries
    max_clusters: int = 0  # chain steps per walk; 0: twice the volume's clusters (images only)


DEFAULT_LIMITS = WalkLimits()


class MassStorage(Protocol):
    def volume_label(self) -> str: ...

    def walk(self, limits: WalkLimits = DEFAULT_LIMITS) -> Iterator[Entry]:
        """Every entry; a bad directory or a spent budget is a BROKEN entry, never a raise."""
        ...

    def open(self, entry: Entry) -> BinaryIO: ...

    def close(self) -> None: ...

    def volume_problems(self) -> list[str]:
        """One line each, known after open: impossible or inconsistent volume metadata."""
        ...

    def late_problems(self) -> dict[str, str]:
        """Valid once walk() is exhausted: path -> reason for first owners of shared clusters."""
        ...


class WalkStopped(MassStorageError):
    """A walk budget is spent: the walk ends with a final BROKEN entry saying which."""


class TooDeep(MassStorageError):
    """A directory lies deeper than the walk allows: it alone is BROKEN and skipped."""


class WalkBudget:
    """Counts a walk against its limits; shared by every adapter.

    Time counts only while the walk runs: ``budgeted`` pauses the clock at each yield, so a
    consumer copying a clip between two entries does not spend the walk's time.
    """

    def __init__(
        self, limits: WalkLimits, what: str, monotonic_s: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self.what = what
        self.monotonic_s = monotonic_s
        self.spent_s = 0.0
        self._running_since: float | None = monotonic_s()
        self.dirs = 0
        self.entries = 0
        self.clusters = 0
        self.max_clusters = limits.max_clusters

    def _fail(self, why: str) -> WalkStopped:
        return WalkStopped(
            f"{self.what}: walk stopped, {why}; the card may be corrupt or hostile, check it on a PC."
        )

    def pause(self) -> None:
        if self._running_since is not None:
            self.spent_s += self.monotonic_s() - self._running_since
            self._running_since = None

    def resume(self) -> None:
        if self._running_since is None:
            self._running_since = self.monotonic_s()

    def elapsed_s(self) -> float:
        running = 0.0 if self._running_since is None else self.monotonic_s() - self._running_since
        return self.spent_s + running

    def enter_dir(self, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise TooDeep(f"directory nested deeper than {self.limits.max_depth}; not read")
        self.dirs += 1
        if self.dirs > self.limits.max_dirs:
            raise self._fail(f"more than {self.limits.max_dirs} directories")
        self.tick()

    def count_entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise self._fail(f"more than {self.limits.max_entries} entries")
        if self.entries % 256 == 0:
            self.tick()

    def count_clusters(self, n: int) -> None:
        before = self.clusters
        self.clusters += n
        if self.max_clusters and self.clusters > self.max_clusters:
            raise self._fail(f"more than {self.max_clusters} clusters visited")
        if before >> 12 != self.clusters >> 12:
            self.tick()

    def tick(self) -> None:
        if self.elapsed_s() > self.limits.timeout_s:
            raise self._fail(f"it took longer than {self.limits.timeout_s:g} s")


ROOT_PATH = "/"  # the path a BROKEN entry gives the root directory


def broken(path: str, depth: int, problem: str) -> Entry:
    """A directory (or the rest of the walk) that could not be read, as an entry."""
    raw = os.fsencode(path.rsplit("/", 1)[-1]) if path != ROOT_PATH else b""
    return Entry(path, raw, 0, EntryKind.BROKEN, depth, problem=problem)


def budgeted(entries: Generator[Entry, None, None], budget: WalkBudget) -> Iterator[Entry]:
    """Run a walk with its clock paused between entries; a spent budget ends it as BROKEN."""
    try:
        while True:
            budget.resume()
            try:
                entry = next(entries)
            except StopIteration:
                return
            except WalkStopped as exc:
                budget.pause()
                yield broken(ROOT_PATH, 0, str(exc))
                return
            budget.pause()
            yield entry
    finally:
        budget.pause()
        entries.close()


def join_path(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _kind_of(mode: int) -> EntryKind:
    if stat.S_ISREG(mode):
        return EntryKind.FILE
    if stat.S_ISDIR(mode):
        return EntryKind.DIR
    if stat.S_ISLNK(mode):
        return EntryKind.SYMLINK
    if stat.S_ISBLK(mode) or stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return EntryKind.DEVICE
    return EntryKind.OTHER


_WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class DirectoryMassStorage:
    """A volume that is a directory tree (a mounted card, or a test's directory).

    Each directory is opened relative to its parent's descriptor with O_NOFOLLOW and listed
    by lstat, so a symlink anywhere on the card is reported, never followed out of it.
    """

    def __init__(self, root: Path | str, *, label: str = "") -> None:
        self.root = Path(root)
        self._label = label or self.root.name

    def volume_label(self) -> str:
        return self._label

    def walk(self, limits: WalkLimits = DEFAULT_LIMITS) -> Iterator[Entry]:
        budget = WalkBudget(limits, f"volume {self._label!r}")
        return budgeted(self._walk_root(budget), budget)

    def _walk_root(self, budget: WalkBudget) -> Generator[Entry, None, None]:
        try:
            root_fd = os.open(self.root, _DIR_FLAGS)
        except OSError as exc:
            yield broken(ROOT_PATH, 0, f"the volume's root cannot be read ({exc.strerror})")
            return
        try:
            yield from self._walk_dir(root_fd, (), "", 0, budget, ())
        finally:
            os.close(root_fd)

    def _walk_dir(
        self,
        dir_fd: int,
        parts: tuple[bytes, ...],
        prefix: str,
        depth: int,
        budget: WalkBudget,
        ancestors: tuple[tuple[int, int], ...],
    ) -> Iterator[Entry]:
        where = prefix or ROOT_PATH
        try:
            budget.enter_dir(depth)
            here = os.fstat(dir_fd)
            if (here.st_dev, here.st_ino) in ancestors:
                raise MassStorageError("directory loops back to an ancestor; not followed")
            with os.scandir(dir_fd) as it:
                listed = sorted((e.name, e.stat(follow_symlinks=False)) for e in it)
        except TooDeep as exc:
            yield broken(where, depth, f"{where}: {exc}")
            return
        except OSError as exc:
            yield broken(where, depth, f"{where}: directory cannot be read ({exc.strerror})")
            return
        except WalkStopped:
            raise
        except MassStorageError as exc:
            yield broken(where, depth, f"{where}: {exc}")
            return
        ancestors = (*ancestors, (here.st_dev, here.st_ino))
        for name_text, st in listed:
            budget.count_entry()
            raw = os.fsencode(name_text)
            kind = _kind_of(st.st_mode)
            path = join_path(prefix, name_text)
            size = st.st_size if kind is EntryKind.FILE else 0
            yield Entry(
                path,
                raw,
                size,
                kind,
                depth,
                locator=(*parts, raw),
                raw_path=(*parts, raw),
                name_encoding="fs",
                modified_utc=datetime.fromtimestamp(st.st_mtime, UTC),
                is_readonly=not st.st_mode & _WRITE_BITS,
            )
            if kind is EntryKind.DIR:
                try:
                    child = os.open(raw, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError as exc:
                    yield broken(
                        path, depth + 1, f"{path}: directory cannot be opened ({exc.strerror})"
                    )
                    continue
                try:
                    yield from self._walk_dir(
                        child, (*parts, raw), path, depth + 1, budget, ancestors
                    )
                finally:
                    os.close(child)

    def open(self, entry: Entry) -> BinaryIO:
        """Open by descending component by component with O_NOFOLLOW from the root."""
        parts = entry.locator
        if not isinstance(parts, tuple) or not parts:
            raise MassStorageError(f"{entry.path!r} was not listed by this volume; walk it first.")
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for part in parts[:-1]:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
            file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            raise MassStorageError(
                f"{entry.path!r}: cannot open on the card ({exc.strerror}); re-dock and retry."
            ) from None
        finally:
            os.close(fd)
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            os.close(file_fd)
            raise MassStorageError(f"{entry.path!r} is no longer a plain file; it is not copied.")
        os.set_blocking(file_fd, True)
        return os.fdopen(file_fd, "rb", buffering=0)

    def close(self) -> None:
        pass

    def volume_problems(self) -> list[str]:
        return []

    def late_problems(self) -> dict[str, str]:
        return {}


MOUNT_OPTIONS = "ro,nosuid,nodev,noexec"


def mount_options(fs_type: str, oem_code_page: str = "cp936") -> str:
    """Read-only and inert always; FAT names in the recorder's OEM code page, shown as UTF-8."""
    if fs_type in ("vfat", "msdos", "fat"):
        page = oem_code_page.lower().removeprefix("cp")
        return f"{MOUNT_OPTIONS},codepage={page},iocharset=utf8"
    if fs_type == "exfat":
        return f"{MOUNT_OPTIONS},iocharset=utf8"
    return MOUNT_OPTIONS


@dataclass(frozen=True)
class BlockDevice:
    node: str  # /dev/sda1
    label: str  # ID_FS_LABEL
    serial: str  # ID_SERIAL_SHORT
    fs_type: str  # ID_FS_TYPE


def find_block_devices(usb_port_path: str) -> list[BlockDevice]:
    """Partitions (or whole disks with a file system) under the bay's USB port."""
    import pyudev  # only on a machine with udev

    context = pyudev.Context()
    found = []
    for dev in context.list_devices(subsystem="block"):
        if not dev.get("ID_FS_TYPE"):
            continue
        usb = dev.find_parent("usb", "usb_device")
        if usb is None or usb.sys_name != usb_port_path:
            continue
        found.append(
            BlockDevice(
                node=dev.device_node,
                label=dev.get("ID_FS_LABEL", ""),
                serial=dev.get("ID_SERIAL_SHORT", ""),
                fs_type=dev.get("ID_FS_TYPE", ""),
            )
        )
    return found


class MountedMassStorage(DirectoryMassStorage):
    """The real adapter on the Pi: the bay's USB disk, mounted read-only by the dock.

    The disk must carry the identified recorder's serial as its volume label or USB serial,
    so a stranger's stick in the bay is refused. Mount options forbid set-uid, device files
    and execution; the dock never writes to the card (deletion goes through the protocol).
    """

    def __init__(
        self,
        usb_port_path: str,
        recorder_serial: str,
        mountpoint: Path | str,
        *,
        find: Callable[[str], list[BlockDevice]] = find_block_devices,
        run: Callable[[list[str]], None] | None = None,
        oem_code_page: str = "cp936",
    ) -> None:
        self._run = run or _run_checked
        devices = find(usb_port_path)
        if not devices:
            raise MassStorageError(
                f"USB port {usb_port_path}: no storage volume appeared; "
                "check the recorder unlocked mass storage, then re-dock."
            )
        wanted = recorder_serial.upper()
        matching = [d for d in devices if wanted in (d.label.upper(), d.serial.upper())]
        if not matching:
            seen = ", ".join(f"{d.node} label={d.label!r}" for d in devices)
            raise WrongVolume(
                f"USB port {usb_port_path}: disk ({seen}) is not recorder {recorder_serial}; "
                "remove it from the bay."
            )
        self.device = matching[0]
        self.is_mounted = False
        mountpoint = Path(mountpoint)
        mountpoint.mkdir(parents=True, exist_ok=True)
        options = mount_options(self.device.fs_type, oem_code_page)
        self._run(["mount", "-o", options, self.device.node, str(mountpoint)])
        self.is_mounted = True
        super().__init__(mountpoint, label=self.device.label or recorder_serial)

    def close(self) -> None:
        if self.is_mounted:
            self._run(["umount", str(self.root)])
            self.is_mounted = False


def _run_checked(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise MassStorageError(
            f"`{' '.join(argv)}` failed: {detail[-1] if detail else done.returncode}; "
            "re-dock the recorder."
        )

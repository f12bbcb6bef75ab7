"""Making a simulated recorder's card of any kind: a directory, or a FAT32 or exFAT image."""

import tempfile
from pathlib import Path

from firmware_bridge.sim.clips import GeneratedClip, write_clip_tree
from firmware_bridge.sim.images import ExfatImageStorage, Fat32ImageStorage
from firmware_bridge.sim.storage import DirectoryStorage, Storage, StorageError


def make_storage(
    kind: str,
    location: Path,
    label: str,
    clips: list[GeneratedClip],
    *,
    capacity_bytes: int | None = None,
    cluster_bytes: int | None = None,
) -> Storage:
    """Make a card of `kind` ("dir", "fat32" or "exfat") at `location`, holding `clips`."""
    if kind == "dir":
        return DirectoryStorage.create(location, label, clips, capacity_bytes=capacity_bytes)
    if kind in ("fat32", "exfat"):
        image_cls = Fat32ImageStorage if kind == "fat32" else ExfatImageStorage
        with tempfile.TemporaryDirectory(prefix="sim-card-") as staging:
            write_clip_tree(Path(staging), clips)
            return image_cls.create(
                location,
                label,
                Path(staging),
                capacity_bytes=capacity_bytes,
                cluster_bytes=cluster_bytes,
            )
    raise StorageError(f"unknown storage kind {kind!r}; use dir, fat32 or exfat")

"""One evidence disc image of 2 GiB of clips against `xorriso` of the same files, same run
(target ratio at most 1.3).

What is timed for the dock is dock.export.image.write_image as write_export runs it per copy:
every clip streamed from the store and proven against its name, the image fsync'd and its
SHA-256 read back for the journal. xorriso writes the same files with Joliet (its own
ISO-9660 + Joliet, no UDF) and is fsync'd too; it hashes nothing.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench._steady import flatten, load_1m, steady
from dock.export.image import DiscFile, write_image

MIB = 1024 * 1024
CLIP_MIB = 256
TOTAL_MIB = 2048


def _clips(folder: Path) -> list[DiscFile]:
    block = os.urandom(CLIP_MIB * MIB - 8)
    files = []
    for i in range(TOTAL_MIB // CLIP_MIB):
        data = i.to_bytes(8, "big") + block
        path = folder / f"执法记录_{i:02d}.MP4"
        path.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        files.append(DiscFile(f"bag/data/clips/{path.name}", len(data), source=path, sha256=sha))
    return files


def disc() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-disc-") as tmp:
        root = Path(tmp)
        (root / "clips").mkdir()
        files = _clips(root / "clips")

        def ratio() -> float:
            for old in root.glob("*.iso"):
                old.unlink()
            start = time.perf_counter()
            write_image(root / "dock.iso", "EVIDENCE_COPY_1", files)
            dock_s = time.perf_counter() - start
            start = time.perf_counter()
            subprocess.run(
                ["xorriso", "-as", "mkisofs", "-J", "-joliet-long", "-iso-level", "3",
                 "-quiet", "-o", str(root / "xorriso.iso"), str(root / "clips")],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            fd = os.open(root / "xorriso.iso", os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            return dock_s / (time.perf_counter() - start)

        figure = steady(ratio)
    return {
        "name": "disc",
        "figures": {
            **flatten("disc_image_vs_xorriso", figure),
            "clips": len(files),
            "total_mib": TOTAL_MIB,
            "loadavg_1m_at_end": load_1m(),
        },
        "units": {"disc_image_vs_xorriso": "write_image time / xorriso time, same files"},
        "targets": {"disc_image_vs_xorriso": "<= 1.3"},
    }


def run() -> list[dict]:
    return [disc()]

"""The process the damaged-card crash test kills: walk a card image and hash every file.

Run as `python tests/crash/walk_child.py CARD.img RESULT.json`. It does what the dock does
with a card (walk with the bounded reader, open and hash each file as the walk yields it,
then ask for late problems) and writes RESULT.json at the end, atomically. It prints
`walking` once the image is open, so the test can aim its kills inside the walk.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from hw.fat32 import FatImageMassStorage
from hw.mass_storage import EntryKind, MassStorageError


def main(image: str, result: str) -> None:
    volume = FatImageMassStorage(image)
    print("walking", flush=True)
    found: dict[str, object] = {}
    for entry in volume.walk():
        if entry.kind is EntryKind.FILE:
            try:
                with volume.open(entry) as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()  # type: ignore[arg-type]
            except MassStorageError as exc:
                digest = f"unreadable: {exc}"
            found[entry.path] = [digest, entry.problem]
        elif entry.kind is EntryKind.BROKEN:
            found[entry.path] = ["broken", entry.problem]
    out = {
        "entries": found,
        "late": volume.late_problems(),
        "volume": volume.volume_problems(),
    }
    volume.close()
    temp = Path(result + ".tmp")
    temp.write_text(json.dumps(out, sort_keys=True))
    os.replace(temp, result)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

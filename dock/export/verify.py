"""`dock export verify IMAGE`: check a disc image completely without mounting it.

Both trees a machine may mount (Joliet and UDF) are read through pycdlib: every file of the
bag against manifest-sha256.txt, the tag files against tagmanifest-sha256.txt, the written
note's hashes against the manifest, and the label against the volume id. Each problem is one
line naming the tree and the file; none means the image is intact.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from dock.errors import DockError
from dock.export.disc import BAG_DIR, LABEL_NAME, VOLUME_PREFIX
from dock.export.image import COPY_BLOCK_BYTES
from dock.export.note import NOTE_STEM

TREES = ("joliet", "udf")
_NOTE_LINE = re.compile(r"^([0-9a-f]{64})  \d+  .*?  (data/clips/.+?)  \(")


class ImageUnreadable(DockError):
    """The file is not a disc image pycdlib can read."""


def verify_image(image: Path) -> list[str]:
    """Every problem found in the image, one line each; [] when it is intact."""
    import pycdlib
    from pycdlib.pycdlibexception import PyCdlibException

    disc = pycdlib.PyCdlib()
    try:
        disc.open(str(image))
    except (PyCdlibException, OSError, ValueError) as err:
        raise ImageUnreadable(
            f"{image.name}: not a readable disc image ({err}); check the file or burn again"
        ) from None
    try:
        volume_id = disc.pvd.volume_identifier.decode("ascii", "replace").strip()
        problems = _label_problems(disc, volume_id)
        for tree in TREES:
            problems += [f"{tree}: {p}" for p in _bag_problems(disc, tree)]
        return problems
    finally:
        disc.close()


def _path_key(tree: str, path: str) -> dict[str, str]:
    return {f"{tree}_path": "/" + path}


def _read(disc: Any, tree: str, path: str) -> bytes | None:
    from pycdlib.pycdlibexception import PyCdlibException

    try:
        with disc.open_file_from_iso(**_path_key(tree, path)) as f:
            return bytes(f.read())
    except PyCdlibException:
        return None


def _sha256(disc: Any, tree: str, path: str) -> str:
    digest = hashlib.sha256()
    with disc.open_file_from_iso(**_path_key(tree, path)) as f:
        while chunk := f.read(COPY_BLOCK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _label_problems(disc: Any, volume_id: str) -> list[str]:
    label = _read(disc, "joliet", LABEL_NAME)
    if not volume_id.startswith(VOLUME_PREFIX):
        return [f"volume id {volume_id!r} is not {VOLUME_PREFIX}1 or 2: not an evidence disc"]
    copy = volume_id.removeprefix(VOLUME_PREFIX)
    if label is None:
        return [f"{LABEL_NAME} is missing"]
    if f"Copy {copy} of 2" not in label.decode("utf-8", "replace"):
        return [f"{LABEL_NAME} does not say copy {copy} of 2 as the volume id does"]
    if label != _read(disc, "joliet", f"{BAG_DIR}/label.txt"):
        return [f"{LABEL_NAME} differs from the bag's label.txt (which the tag manifest covers)"]
    return []


def _manifest(text: bytes | None) -> dict[str, str] | None:
    if text is None:
        return None
    entries = {}
    for line in text.decode("utf-8", "replace").splitlines():
        digest, _, path = line.partition("  ")
        if line:
            entries[path] = digest
    return entries


def _bag_files(disc: Any, tree: str) -> set[str]:
    found = set()
    for here, _dirs, files in disc.walk(**_path_key(tree, BAG_DIR)):
        relative = here.strip("/").removeprefix(BAG_DIR).strip("/")
        found |= {f"{relative}/{f}".lstrip("/") for f in files}
    return found


def _bag_problems(disc: Any, tree: str) -> list[str]:
    manifest = _manifest(_read(disc, tree, f"{BAG_DIR}/manifest-sha256.txt"))
    tags = _manifest(_read(disc, tree, f"{BAG_DIR}/tagmanifest-sha256.txt"))
    if manifest is None or tags is None:
        return ["bag has no manifest-sha256.txt or tagmanifest-sha256.txt"]
    problems = []
    on_disc = _bag_files(disc, tree)
    for path, expected in [*tags.items(), *manifest.items()]:
        if path not in on_disc:
            problems.append(f"{path} is in the manifest but not on the disc")
        elif _sha256(disc, tree, f"{BAG_DIR}/{path}") != expected:
            problems.append(f"{path} does not match its SHA-256 in the manifest")
    for path in sorted(on_disc - manifest.keys() - tags.keys() - {"tagmanifest-sha256.txt"}):
        listing = "manifest-sha256.txt" if path.startswith("data/") else "tagmanifest-sha256.txt"
        problems.append(f"{path} is on the disc but not in {listing}")
    note = _read(disc, tree, f"{BAG_DIR}/data/{NOTE_STEM}.txt")
    if note is None:
        return [*problems, f"the written note data/{NOTE_STEM}.txt is missing"]
    noted = dict(
        (m.group(2), m.group(1))
        for m in map(_NOTE_LINE.match, note.decode("utf-8", "replace").splitlines())
        if m
    )
    clips = {p: d for p, d in manifest.items() if p.startswith("data/clips/")}
    if noted != clips:
        problems.append("the written note's clips and hashes differ from the manifest's")
    return problems

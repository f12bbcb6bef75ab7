"""Write an approved export: two labelled disc images holding the clips, a BagIt bag and the
written note, journaled with the images' SHA-256.

The command layer (dock/people/) decides who may export and calls `write_export` only once
the export is approved and confirmed by two distinct people; this module does not judge
that again, it records who they were. The originals are only read: each clip streams from the
store into each image and is proven against its name on the way (dock.export.image).

On the disc (the same names in the Joliet and the UDF tree):
    LABEL.txt                      copy 1 / copy 2, unit, maker, time, case
    bag/bagit.txt, bag-info.txt, label.txt, manifest-sha256.txt, tagmanifest-sha256.txt
    bag/data/clips/<clip names>
    bag/data/文字说明材料.txt, 文字说明材料.pdf
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dock import journal
from dock.db.database import Database
from dock.db.models import Clip
from dock.errors import DockError
from dock.events import ExportWritten
from dock.export.image import DiscFile, write_image
from dock.export.names import safe_name, unique_names
from dock.export.note import (
    NOTE_STEM,
    DiscClip,
    ExportFacts,
    bag_tag_files,
    label_text,
    note_pdf,
    note_text,
)
from dock.offload.store import EvidenceStore

LABEL_NAME = "LABEL.txt"
BAG_DIR = "bag"
VOLUME_PREFIX = "EVIDENCE_COPY_"  # + "1" or "2": the volume id readers show
# An image is written under this suffix and renamed only once both copies are whole and
# fsync'd: a dock killed mid-export leaves `.partial` files, never a disc that looks finished.
PARTIAL_SUFFIX = ".partial"


class ExportRefused(DockError):
    """An export that cannot be written as asked (no clips, a clip not in the store...)."""


@dataclass(frozen=True)
class ExportImages:
    paths: tuple[Path, Path]
    sha256s: tuple[str, str]
    facts: ExportFacts


def disc_clips(clips: Sequence[Clip]) -> tuple[DiscClip, ...]:
    """The clips in the order given, each with a disc name fitted to Joliet's byte limit."""
    wanted = [safe_name(c.source_path, f"{c.sha256[:16]}.bin") for c in clips]
    return tuple(
        DiscClip(
            sha256=c.sha256,
            size_bytes=c.size_bytes,
            disc_name=name,
            card_name=c.source_path,
            device_serial=c.device_serial,
            officer_number=c.officer_number,
            recorded_start_utc=c.recorded_start_utc,
        )
        for c, name in zip(clips, unique_names(wanted), strict=True)
    )


def note_files(facts: ExportFacts) -> dict[str, bytes]:
    """The written note as text and PDF, made once: both copies carry the same bytes."""
    text = note_text(facts)
    return {f"{NOTE_STEM}.txt": text.encode(), f"{NOTE_STEM}.pdf": note_pdf(text)}


def disc_files(
    facts: ExportFacts, store: EvidenceStore, copy: int, payload: dict[str, bytes]
) -> list[DiscFile]:
    label = label_text(facts, copy).encode()
    files = [DiscFile(LABEL_NAME, len(label), data=label)]
    files += [
        DiscFile(f"{BAG_DIR}/{name}", len(b), data=b)
        for name, b in bag_tag_files(facts, payload, label).items()
    ]
    files += [DiscFile(f"{BAG_DIR}/data/{n}", len(b), data=b) for n, b in payload.items()]
    files += [
        DiscFile(
            f"{BAG_DIR}/data/clips/{c.disc_name}",
            c.size_bytes,
            source=store.path_of(c.sha256),
            sha256=c.sha256,
        )
        for c in facts.clips
    ]
    return files


def write_export(
    db: Database,
    store: EvidenceStore,
    out_dir: Path,
    *,
    clips: Sequence[Clip],
    case: str,
    unit: str,
    maker: str,
    extractor: str,
    confirmers: tuple[str, str],
    approval_id: str,
    approved_at_utc: datetime,
    now: datetime,
    actor: str,
    time_zone: str = "Asia/Shanghai",
) -> ExportImages:
    """Write copy 1 and copy 2 into out_dir, then journal them (export.written)."""
    if not clips:
        raise ExportRefused(f"export {approval_id} names no clips; approve one with clips")
    missing = [c.sha256 for c in clips if not store.has(c.sha256)]
    if missing:
        raise ExportRefused(
            f"clip {missing[0]} is not in the evidence store; run `dock store verify`"
        )
    facts = ExportFacts(
        case=case,
        unit=unit,
        maker=maker,
        extractor=extractor,
        confirmers=confirmers,
        approval_id=approval_id,
        approved_at_utc=approved_at_utc,
        extracted_at_utc=now,
        time_zone=time_zone,
        clips=disc_clips(clips),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"export-{safe_name(approval_id, 'export')}-{now:%Y%m%dT%H%M%SZ}"
    paths = (out_dir / f"{stem}-copy1.iso", out_dir / f"{stem}-copy2.iso")
    for stale in out_dir.glob(f"export-{safe_name(approval_id, 'export')}-*{PARTIAL_SUFFIX}"):
        stale.unlink()  # a killed earlier run of this export: copies, never whole, never journaled
    partials = tuple(p.with_name(p.name + PARTIAL_SUFFIX) for p in paths)
    sha256s = []
    payload = note_files(facts)
    try:
        for copy, partial in enumerate(partials, start=1):
            files = disc_files(facts, store, copy, payload)
            sha256s.append(write_image(partial, f"{VOLUME_PREFIX}{copy}", files))
    except BaseException:
        for partial in partials:  # a half export is no export: nothing unjournaled is left
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
        raise
    for partial, path in zip(partials, paths, strict=True):
        os.rename(partial, path)
    _fsync_dir(out_dir)
    with db.transaction() as session:
        journal.append(
            session,
            ExportWritten(
                approval_id=approval_id,
                case=case,
                maker=maker,
                extractor=extractor,
                confirmers=confirmers,
                clip_sha256s=tuple(c.sha256 for c in clips),
                image_names=tuple(p.name for p in paths),
                image_sha256s=tuple(sha256s),
            ),
            actor=actor,
            at=now,
        )
    return ExportImages(paths, (sha256s[0], sha256s[1]), facts)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

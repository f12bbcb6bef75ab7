"""Helpers for the evidence disc tests: clips in a real store and database, an export of them."""

from __future__ import annotations

import datetime
import hashlib
import shutil
from pathlib import Path

import pycdlib
from sqlalchemy import select

from dock.db.database import Database, open_database
from dock.db.models import Clip
from dock.export.disc import ExportImages, write_export
from dock.offload.store import EvidenceStore, sha256_of_file

START = datetime.datetime(2026, 11, 30, 1, 15, tzinfo=datetime.UTC)
NOW = datetime.datetime(2026, 12, 2, 11, 25, 7, tzinfo=datetime.UTC)
CONFIRMERS = ("custodian 王芳", "custodian 张伟")


class Evidence:
    """A data dir with a database and an evidence store, and clips put in both."""

    def __init__(self, tmp_path: Path) -> None:
        self.data_dir = tmp_path / "data"
        self.db: Database = open_database(self.data_dir)
        self.store = EvidenceStore(self.data_dir / "store", reserve_bytes=0)
        self.clips: list[Clip] = []
        self.tmp_path = tmp_path

    def add(self, card_path: str, data: bytes) -> Clip:
        source = self.tmp_path / f"clip-{len(self.clips)}"
        source.write_bytes(data)
        return self.add_file(card_path, source)

    def add_file(self, card_path: str, source: Path) -> Clip:
        """Put a file in the store as the offload leaves it; a sparse one stays sparse."""
        sha = sha256_of_file(source)
        path = self.store.path_of(sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, path)
        path.chmod(0o444)
        clip = Clip(
            agency="City Management", dock_id="dock-01", bay=1, device_serial="ZFY00001",
            officer_number="310115", recorded_start_utc=START, recorded_end_utc=START,
            stored_at_utc=START, size_bytes=path.stat().st_size, sha256=sha,
            source_path=card_path, handover_delay_s=0.0, is_late=False,
        )  # fmt: skip
        with self.db.transaction() as session:
            session.add(clip)
        self.clips.append(clip)
        return clip

    def db_clips(self) -> list[Clip]:
        """The clips already in the database (a new Evidence over an earlier run's data dir)."""
        with self.db.transaction() as session:
            clips = list(session.scalars(select(Clip).order_by(Clip.id)))
            session.expunge_all()
        return clips

    def export(self, out_dir: Path | None = None) -> ExportImages:
        return write_export(
            self.db, self.store, out_dir or self.tmp_path / "discs", clips=self.clips,
            case="城管罚字〔2026〕第0042号", unit="某市城市管理综合执法局", maker="李明",
            extractor="赵强", confirmers=CONFIRMERS, approval_id="A-17",
            approved_at_utc=NOW - datetime.timedelta(hours=1), now=NOW, actor="people:李明",
        )  # fmt: skip


def read_disc(image: Path) -> pycdlib.PyCdlib:
    disc = pycdlib.PyCdlib()
    disc.open(str(image))
    return disc


def extract(image: Path, tree: str, target: Path) -> Path:
    """Every file of one tree (joliet or udf) copied out, as a mounted disc would show it."""
    disc = read_disc(image)
    try:
        for here, _dirs, files in disc.walk(**{f"{tree}_path": "/"}):
            folder = target / here.strip("/")
            folder.mkdir(parents=True, exist_ok=True)
            for name in files:
                with open(folder / name, "wb") as out:
                    disc.get_file_from_iso_fp(out, **{f"{tree}_path": f"{here.rstrip('/')}/{name}"})
    finally:
        disc.close()
    return target


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

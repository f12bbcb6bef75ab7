"""A real dock database and evidence store with clips whose bytes are really stored."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dock.clock import FixedClock
from dock.config import Settings, parse_settings
from dock.db import DB_FILE_NAME, open_database
from dock.db.database import Database
from dock.db.models import Clip, Officer
from dock.offload.store import EvidenceStore, fsync_dir
from dock.people import Actor, authenticate
from dock.people.commands import Commands
from tests.integration.people_setup import PASSWORD, add_team

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CUSTODIAN = "staff:wang"
# Who asks for a purge or a lift, who reviews and who approves it ([people] defaults).
TEAM = {
    "admin": ["administrator"],
    "wang": ["custodian"],
    "lena": ["legal_reviewer"],
    "li": ["leader"],
    "zhao": ["auditor"],
}


@dataclass
class Records:
    db: Database
    store: EvidenceStore
    settings: Settings

    @property
    def commands(self) -> Commands:
        return Commands(self.settings.people, FixedClock(NOW))

    def actor(self, username: str) -> Actor:
        return authenticate(
            self.db, username, PASSWORD, limits=self.settings.people, clock=FixedClock(NOW)
        )

    def approve(self, request_id: int) -> None:
        """Reviewed by the legal reviewer, approved by the leader, as [people] says."""
        lena, li = self.actor("lena"), self.actor("li")
        with self.db.transaction() as session:
            self.commands.review(session, lena, request_id, is_passed=True, note="lawful")
            self.commands.approve(session, li, request_id, note="approved")

    def add_officer(self, number: str, unit: str) -> None:
        with self.db.transaction() as session:
            session.add(
                Officer(
                    officer_number=number,
                    name=number,
                    unit_number=unit,
                    unit_name=unit,
                    registered_at=NOW,
                )
            )

    def add_clip(
        self,
        *,
        days_old: float,
        officer: str | None = "001",
        category: str | None = None,
        minutes: float = 10,
        handover_h: float = 1,
        is_late: bool = False,
        **fields: Any,
    ) -> int:
        """A clip recorded days_old before NOW whose bytes are in the store; its id."""
        body = os.urandom(64)
        sha256 = hashlib.sha256(body).hexdigest()
        fd, temp = self.store.open_temp()
        os.write(fd, body)
        os.close(fd)
        self.store.place(temp, sha256)
        start = NOW - timedelta(days=days_old)
        with self.db.transaction() as session:
            clip = Clip(
                agency="test agency",
                dock_id="dock-01",
                bay=1,
                device_serial="ZFY1",
                officer_number=officer,
                recorded_start_utc=start,
                recorded_end_utc=start + timedelta(minutes=minutes),
                stored_at_utc=start + timedelta(hours=handover_h),
                category=category,
                size_bytes=len(body),
                sha256=sha256,
                source_path=f"/DCIM/{sha256[:8]}.MP4",
                handover_delay_s=handover_h * 3600,
                is_late=is_late,
                **fields,
            )
            session.add(clip)
            session.flush()
            return clip.id

    @property
    def db_path(self) -> Path:
        return self.store.root.parent / DB_FILE_NAME

    def sha_of(self, clip_id: int) -> str:
        with self.db.transaction() as session:
            return session.get_one(Clip, clip_id).sha256


def settings_with(tmp_path: Path, **retention: Any) -> Settings:
    table = {"dock": {"data_dir": str(tmp_path)}, "retention": retention}
    return parse_settings(table, base_dir=tmp_path, source=None)


@pytest.fixture
def make_records(tmp_path):
    made = []

    def make(**retention: Any) -> Records:
        settings = settings_with(tmp_path, **retention)
        db = open_database(tmp_path)
        store = EvidenceStore(tmp_path / "store", reserve_bytes=0)
        fsync_dir(store.root)
        made.append(db)
        if len(made) == 1:  # one database per test: its staff once
            with db.transaction() as session:
                add_team(session, TEAM, FixedClock(NOW))
        return Records(db, store, settings)

    yield make
    for db in made:
        db.close()


@pytest.fixture
def records(make_records) -> Records:
    return make_records(default_days=180, category_days={"交通事故": 1095}, undo_days=30)

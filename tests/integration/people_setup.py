"""A dock database with staff in each role, for the people, approvals and viewing tests.

Real SQLite, migrated as `dock serve` migrates it, real argon2 hashes, real store files.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dock.clock import FixedClock
from dock.config import parse_settings
from dock.db.database import open_database
from dock.db.models import Clip
from dock.offload.store import EvidenceStore
from dock.people import Actor, accounts, authenticate
from dock.people.commands import Commands

START = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
STAFF = {
    "admin": ["administrator"],
    "cora": ["custodian"],
    "carl": ["custodian"],
    "olga": ["officer"],
    "dora": ["office_director"],
    "lena": ["legal_reviewer"],
    "leo": ["leader"],
    "lisa": ["leader"],
    "audrey": ["auditor"],
}


def add_team(session: Any, staff: dict[str, list[str]], clock: FixedClock) -> None:
    """Every account in `staff`, all with PASSWORD; the first one must be "admin", the
    administrator who adds the rest."""
    accounts.add_team(session, staff, password=PASSWORD, clock=clock)


class People:
    def __init__(self, tmp_path: Path, people: dict | None = None) -> None:
        self.settings = parse_settings(
            {"dock": {"data_dir": str(tmp_path / "data")}, "people": people or {}},
            base_dir=tmp_path,
            source=None,
        )
        self.clock = FixedClock(START)
        self.db = open_database(self.settings.dock.data_dir)
        self.store = EvidenceStore(self.settings.dock.data_dir / "store")
        self.commands = Commands(self.settings.people, self.clock)
        with self.db.transaction() as session:
            add_team(session, STAFF, self.clock)

    def sign_in(self, username: str) -> Actor:
        return authenticate(
            self.db, username, PASSWORD, limits=self.settings.people, clock=self.clock
        )

    def add_clip(self, content: bytes = b"clip bytes " * 1000, **fields: object) -> int:
        """A stored clip: its bytes in the evidence store, its row in the database."""
        sha256 = hashlib.sha256(content).hexdigest()
        path = self.store.path_of(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        values: dict[str, object] = {
            "agency": "City Management",
            "dock_id": "dock-01",
            "bay": 1,
            "device_serial": "REC-1",
            "officer_number": "1001",
            "recorded_start_utc": START,
            "recorded_end_utc": START,
            "stored_at_utc": START,
            "size_bytes": len(content),
            "sha256": sha256,
            "source_path": "DCIM/1.MP4",
            "handover_delay_s": 0.0,
        }
        values.update(fields)
        with self.db.transaction() as session:
            clip = Clip(**values)
            session.add(clip)
            session.flush()
            return clip.id

    def close(self) -> None:
        self.db.close()

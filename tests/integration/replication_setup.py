"""A replicator against a weed mini store, and the rows an offload leaves, for the central
copy's tests, its crash test and its benchmark."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

from sqlalchemy import select

from dock import journal
from dock.clock import FixedClock
from dock.config import CentralSettings
from dock.db.database import Database, open_database
from dock.db.models import Clip, JournalRow
from dock.events import ClipStored
from dock.offload.store import EvidenceStore
from dock.replication.central import CentralStore
from dock.replication.replicator import Replicator
from tests.servers.seaweed import SECRET_KEY, SeaweedServer

START = datetime.datetime(2026, 11, 30, 8, 0, tzinfo=datetime.UTC)
PART = 5 * 1024 * 1024


def put_local(store: EvidenceStore, data: bytes) -> str:
    """An object in the local store as the offload leaves it: named by its SHA-256, read-only."""
    sha = hashlib.sha256(data).hexdigest()
    path = store.path_of(sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o444)
    return sha


def journal_stored(db: Database, sha: str, size: int, serial: str = "BC-1") -> None:
    """A clip.stored row and its clips row, as dock.offload.records writes them."""
    with db.transaction() as session:
        session.add(
            Clip(
                agency="a", dock_id="dock-01", bay=1, device_serial=serial,
                officer_number="4711", recorded_start_utc=START,
                recorded_end_utc=START + datetime.timedelta(minutes=5), stored_at_utc=START,
                size_bytes=size, sha256=sha, source_path="DCIM/x.mp4",
                handover_delay_s=0.0, is_late=False,
            )
        )  # fmt: skip
        journal.append(
            session,
            ClipStored(
                bay=1, device=serial, sha256=sha, size_bytes=size, source_path="DCIM/x.mp4",
                recorded_start_utc=START, handover_delay_s=0.0, is_late=False,
            ),
            actor="offload",
            at=START,
        )  # fmt: skip


def make_replicator(
    tmp_path: Path, server: SeaweedServer, bucket: str, **settings: object
) -> tuple[Replicator, Database, EvidenceStore]:
    db = open_database(tmp_path / "data")
    store = EvidenceStore(tmp_path / "store", reserve_bytes=0)
    central = CentralStore(
        endpoint_url=server.endpoint_url, bucket=bucket, region="us-east-1",
        access_key_id=server.access_key_id, secret_access_key=SECRET_KEY,
        part_size_bytes=PART, timeout_s=5,
    )  # fmt: skip
    config = CentralSettings(**settings)  # type: ignore[arg-type]
    clock = FixedClock(START + datetime.timedelta(hours=1))
    return (
        Replicator(db, store, central, config, clock, tmp_path / "data", dock_id="dock-01"),
        db,
        store,
    )


def unreachable_store() -> CentralStore:
    """A store nobody listens for: every call is CentralStoreUnreachable, fast."""
    from tests.servers.seaweed import free_port

    return CentralStore(
        endpoint_url=f"http://127.0.0.1:{free_port()}", bucket="evidence", region="us-east-1",
        access_key_id="x", secret_access_key="y", timeout_s=1,
    )  # fmt: skip


def rows_of(db: Database, kind: str) -> list[JournalRow]:
    with db.transaction() as session:
        rows = session.scalars(select(JournalRow).where(JournalRow.type == kind)).all()
        session.expunge_all()
        return list(rows)

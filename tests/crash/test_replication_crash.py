"""The dock SIGKILLed in the middle of replication: after restarts, every clip confirmed once.

A child process runs the replicator over a local store of a few multi-part clips against a
real weed mini; it is killed at random instants (before, during and between parts, between
the upload and its confirmation). Each restart must continue from the replicas table; at the
end every clip is confirmed, with exactly one clip.replicated row each, and the store's copy
carries the right composite checksum and a COMPLIANCE lock.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dock.db.database import open_database
from dock.db.models import JournalRow
from dock.offload.store import EvidenceStore
from dock.replication import records
from tests.integration.replication_setup import PART, journal_stored, put_local
from tests.servers.seaweed import SECRET_KEY, make_seaweed  # noqa: F401

CHILD = """
import datetime, sys
from pathlib import Path
from dock.clock import SystemClock
from dock.config import CentralSettings
from dock.db.database import open_database
from dock.offload.store import EvidenceStore
from dock.replication.central import CentralStore
from dock.replication.replicator import Replicator
root, endpoint, bucket, secret, key_id, part = sys.argv[1:7]
db = open_database(Path(root) / "data")
store = EvidenceStore(Path(root) / "store", reserve_bytes=0, sweeps_temp_files=False)
central = CentralStore(endpoint_url=endpoint, bucket=bucket, region="us-east-1",
    access_key_id=key_id, secret_access_key=secret, part_size_bytes=int(part), timeout_s=5)
r = Replicator(db, store, central, CentralSettings(), SystemClock(), Path(root) / "data",
    dock_id="dock-01")
while r.run_once():
    pass
print("done", flush=True)
"""


def test_a_dock_killed_mid_upload_confirms_every_clip_once_after_restarts(
    tmp_path: Path,
    make_seaweed: Any,  # noqa: F811
) -> None:
    server = make_seaweed()
    db = open_database(tmp_path / "data")
    store = EvidenceStore(tmp_path / "store", reserve_bytes=0)
    shas = []
    for i in range(4):
        data = os.urandom(2 * PART + 1000 * i)
        sha = put_local(store, data)
        journal_stored(db, sha, len(data), serial=f"BC-{i}")
        shas.append(sha)
    db.close()
    rng = random.Random(12)
    argv = [
        sys.executable, "-c", CHILD, str(tmp_path), server.endpoint_url, server.bucket,
        SECRET_KEY, server.access_key_id, str(PART),
    ]  # fmt: skip
    for _ in range(6):
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, start_new_session=True)
        time.sleep(rng.uniform(0.5, 3.0))
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    child = subprocess.run(argv, capture_output=True, timeout=300, check=True)
    assert b"done" in child.stdout

    db = open_database(tmp_path / "data")
    try:
        with db.transaction() as session:
            assert all(records.is_replicated(session, sha) for sha in shas)
            replicated = session.scalars(
                select(JournalRow.data).where(JournalRow.type == "clip.replicated")
            ).all()
        assert len(replicated) == len(shas)
        assert sorted(next(s for s in shas if s in d) for d in replicated) == sorted(shas)
    finally:
        db.close()
    client = server.client()
    for sha in shas:
        head = client.head_object(Bucket=server.bucket, Key=f"objects/{sha}")
        assert head["ObjectLockMode"] == "COMPLIANCE"

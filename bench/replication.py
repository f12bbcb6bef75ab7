"""Replication throughput to a local weed mini, against boto3's own upload_file of the same files.

The ratio (replicator MB/s over upload_file MB/s, same files, same server, same run) is what
is compared across machines; target >= 0.9. The replicator does more per object than
upload_file (it checks the local bytes against their name first and HEADs the copy after), so
the ratio says what that proof costs.
"""

from __future__ import annotations

import datetime
import os
import tempfile
import time
from pathlib import Path

from dock.clock import SystemClock
from dock.config import CentralSettings
from dock.db.database import open_database
from dock.offload.store import EvidenceStore
from dock.replication.central import CentralStore
from dock.replication.replicator import Replicator
from tests.integration.test_replication import journal_stored, put_local
from tests.servers.seaweed import SECRET_KEY, SeaweedServer

FILES = 6
FILE_BYTES = 24 * 1024 * 1024
PART = 16 * 1024 * 1024


def replication_vs_upload_file() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = SeaweedServer(root / "seaweed")
        server.start()
        try:
            db = open_database(root / "data")
            store = EvidenceStore(root / "store", reserve_bytes=0)
            shas = []
            for _ in range(FILES):
                sha = put_local(store, os.urandom(FILE_BYTES))
                journal_stored(db, sha, FILE_BYTES)
                shas.append(sha)
            client = server.client()
            plain = server.new_bucket()
            start = time.perf_counter()
            for sha in shas:
                client.upload_file(str(store.path_of(sha)), plain, f"objects/{sha}")
            baseline_s = time.perf_counter() - start
            central = CentralStore(
                endpoint_url=server.endpoint_url, bucket=server.bucket, region="us-east-1",
                access_key_id=server.access_key_id, secret_access_key=SECRET_KEY,
                part_size_bytes=PART,
            )  # fmt: skip
            replicator = Replicator(
                db, store, central, CentralSettings(), SystemClock(), root / "data",
                dock_id="bench",
            )  # fmt: skip
            start = time.perf_counter()
            confirmed = replicator.run_once()
            replication_s = time.perf_counter() - start
            db.close()
        finally:
            server.stop()
    total_mb = FILES * FILE_BYTES / 1e6
    return {
        "name": "replication_to_weed_mini",
        "figures": {
            "replication_mb_s": round(total_mb / replication_s, 1),
            "upload_file_mb_s": round(total_mb / baseline_s, 1),
            "ratio_to_upload_file": round(baseline_s / replication_s, 2),
            "confirmed": confirmed,
            "target_ratio": 0.9,
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "units": {
            "replication_mb_s": "MB/s",
            "upload_file_mb_s": "MB/s",
            "ratio_to_upload_file": "x",
            "confirmed": "count",
            "target_ratio": "x",
            "load_average_1m": "load",
        },
        "at": datetime.datetime.now(datetime.UTC).isoformat(),
    }


def run() -> list[dict]:
    return [replication_vs_upload_file()]

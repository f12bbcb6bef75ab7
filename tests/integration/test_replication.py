"""Central copy against a real weed mini S3 server with an object-locked bucket."""

from __future__ import annotations

import datetime
import hashlib
import os
from pathlib import Path

import pytest

from dock.clock import FixedClock
from dock.db.models import Replica
from dock.replication import records
from tests.integration.replication_setup import (
    PART,
    START,
    journal_stored,
    make_replicator,
    put_local,
    rows_of,
    unreachable_store,
)
from tests.servers.seaweed import SeaweedServer, seaweed  # noqa: F401


@pytest.mark.parametrize("size", [1000, 12 * 1024 * 1024 + 7])
def test_a_stored_clip_is_confirmed_only_with_its_checksum_and_a_compliance_lock(
    tmp_path: Path,
    seaweed: SeaweedServer,  # noqa: F811
    size: int,
) -> None:
    bucket = seaweed.new_bucket()
    replicator, db, store = make_replicator(tmp_path, seaweed, bucket)
    sha = put_local(store, os.urandom(size))
    journal_stored(db, sha, size)

    assert replicator.run_once() == 1

    found = replicator.central.head(sha)
    assert found is not None and found.lock_mode == "COMPLIANCE"
    wanted = START + datetime.timedelta(days=1095)
    assert found.retain_until is not None and abs(found.retain_until - wanted).total_seconds() < 2
    if size <= PART:
        assert found.checksum_sha256 == sha
    else:
        assert found.checksum_sha256.endswith("-3")
    replicated = rows_of(db, "clip.replicated")
    assert [r.data for r in replicated] and sha in replicated[0].data
    with db.transaction() as session:
        assert records.is_replicated(session, sha)
        assert records.waiting_for_copy(session, "BC-1") == []
    head = seaweed.client().head_object(Bucket=bucket, Key=f"objects/{sha}")
    assert head["Metadata"]["device"] == "BC-1" and head["Metadata"]["officer"] == "4711"
    # A second pass neither uploads again nor journals a second confirmation.
    assert replicator.run_once() == 0
    assert len(rows_of(db, "clip.replicated")) == 1


def test_a_locked_copy_cannot_be_deleted_even_with_the_docks_credentials(
    tmp_path: Path,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    bucket = seaweed.new_bucket()
    replicator, db, store = make_replicator(tmp_path, seaweed, bucket)
    sha = put_local(store, b"evidence" * 100)
    journal_stored(db, sha, 800)
    replicator.run_once()
    client = seaweed.client()
    version = client.head_object(Bucket=bucket, Key=f"objects/{sha}")["VersionId"]

    with pytest.raises(Exception, match="AccessDenied|Locked|Forbidden"):
        client.delete_object(Bucket=bucket, Key=f"objects/{sha}", VersionId=version)
    with pytest.raises(Exception, match="AccessDenied|Locked|Forbidden"):
        client.delete_object(
            Bucket=bucket, Key=f"objects/{sha}", VersionId=version, BypassGovernanceRetention=True
        )
    client.delete_object(Bucket=bucket, Key=f"objects/{sha}")  # only adds a delete marker
    got = client.get_object(Bucket=bucket, Key=f"objects/{sha}", VersionId=version)
    assert hashlib.sha256(got["Body"].read()).hexdigest() == sha


def test_a_local_object_whose_bytes_no_longer_match_its_name_is_never_confirmed(
    tmp_path: Path,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    bucket = seaweed.new_bucket()
    replicator, db, store = make_replicator(tmp_path, seaweed, bucket)
    sha = put_local(store, b"original bytes" * 50)
    path = store.path_of(sha)
    path.chmod(0o644)
    path.write_bytes(b"rotted bytes!!" * 50)
    journal_stored(db, sha, 700)

    assert replicator.run_once() == 0

    with db.transaction() as session:
        assert not records.is_replicated(session, sha)
        row = session.get(Replica, sha)
        assert row is not None and row.refused_reason.startswith("local_mismatch")
    assert rows_of(db, "clip.replicated") == []
    assert len(rows_of(db, "replication.refused")) == 1
    assert replicator.central.head(sha) is None


def test_an_unreachable_store_queues_everything_and_raises_the_backlog_alert_once(
    tmp_path: Path,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    replicator, db, store = make_replicator(tmp_path, seaweed, "evidence", backlog_alert=2)
    replicator.central = unreachable_store()
    for i in range(4):
        data = f"clip {i}".encode()
        journal_stored(db, put_local(store, data), len(data))

    from dock.replication.central import CentralStoreUnreachable

    for _ in range(2):
        with pytest.raises(CentralStoreUnreachable):
            replicator.run_once()
        replicator._check_backlog_quietly()

    with db.transaction() as session:
        assert records.backlog(session)[0] == 4
    alerts = rows_of(db, "replication.backlog")
    assert len(alerts) == 1 and '"waiting":4' in alerts[0].data.replace(" ", "")


def test_replication_reads_at_most_its_share_of_a_running_offloads_rate() -> None:
    from dock.events import OffloadFinished, OffloadProgress, OffloadStarted
    from dock.replication.replicator import OffloadRate, TokenBucket

    clock = FixedClock(START)
    rate = OffloadRate(clock)
    slept: list[float] = []
    bucket = TokenBucket(clock, slept.append, lambda: (r * 0.5) if (r := rate()) else None)
    bucket.take(10_000_000)
    assert slept == []  # no offload: full speed
    rate.hear(OffloadStarted(bay=1, clip_count=1, total_bytes=100))
    clock.advance(2.0)
    rate.hear(OffloadProgress(bay=1, done_clips=0, total_clips=1, done_bytes=20_000_000,
                              total_bytes=10**9))  # fmt: skip
    bucket.take(5_000_000)  # the one-second burst of 5 MB/s
    bucket.take(5_000_000)
    assert slept == [1.0]
    rate.hear(OffloadFinished(bay=1, stored_count=1, quarantined_count=0, failed_count=0))
    bucket.take(50_000_000)
    assert slept == [1.0]

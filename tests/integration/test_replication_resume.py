"""A store that goes away in the middle of a multipart upload: resumed, nothing twice."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dock.db.models import Replica
from dock.replication import records
from dock.replication.central import CentralStoreError
from tests.integration.replication_setup import (
    PART,
    journal_stored,
    make_replicator,
    put_local,
    rows_of,
)
from tests.servers.seaweed import make_seaweed  # noqa: F401


def test_a_store_stopped_mid_upload_resumes_the_same_upload_and_sends_each_part_once(
    tmp_path: Path,
    make_seaweed: Any,  # noqa: F811
) -> None:
    server = make_seaweed()
    replicator, db, store = make_replicator(tmp_path, server, server.bucket)
    size = 3 * PART + 123
    sha = put_local(store, os.urandom(size))
    journal_stored(db, sha, size)
    client = replicator.central._client
    calls: dict[str, int] = {"create": 0, "part_ok": 0}
    real_create, real_part = client.create_multipart_upload, client.upload_part

    def create(**kw: Any) -> Any:
        calls["create"] += 1
        return real_create(**kw)

    def part(**kw: Any) -> Any:
        answer = real_part(**kw)
        calls["part_ok"] += 1
        if calls["part_ok"] == 2:
            server.stop()  # the store goes away after two parts are in
        return answer

    client.create_multipart_upload, client.upload_part = create, part

    with pytest.raises(CentralStoreError):
        replicator.run_once()
    with db.transaction() as session:
        row = session.get(Replica, sha)
        assert row is not None and row.upload_id and row.confirmed_at_utc is None
        # The outer list and at least the two parts that went in (parts fly concurrently).
        assert row.done_parts.count("[") >= 3

    server.start()
    assert replicator.run_once() == 1

    assert calls == {"create": 1, "part_ok": 4}  # each part went in exactly once
    found = replicator.central.head(sha)
    assert found is not None and found.checksum_sha256.endswith("-4")
    with db.transaction() as session:
        assert records.is_replicated(session, sha)
    assert len(rows_of(db, "clip.replicated")) == 1
    uploads = server.client().list_multipart_uploads(Bucket=server.bucket)
    assert uploads.get("Uploads", []) == []

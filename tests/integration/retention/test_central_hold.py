"""A hold mirrored to the central copy: the real object-locked store refuses the deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from dock.clock import FixedClock
from dock.config import CentralSettings
from dock.replication import records as replicas
from dock.replication.central import CentralStore, object_key
from dock.replication.replicator import Replicator
from dock.retention import holds, policy
from dock.retention.holds import HoldKind
from dock.retention.models import ClipRetention
from tests.integration.retention.conftest import CUSTODIAN, NOW
from tests.servers.seaweed import SECRET_KEY, SeaweedServer, seaweed  # noqa: F401


def fresh_bucket(server: SeaweedServer) -> CentralStore:
    """The dock's view of a new object-locked bucket, so tests sharing the server do not mix."""
    return CentralStore(
        endpoint_url=server.endpoint_url,
        bucket=server.new_bucket(),
        region="us-east-1",
        access_key_id=server.access_key_id,
        secret_access_key=SECRET_KEY,
        timeout_s=5,
    )


def replicated_clip(records, server: SeaweedServer, **clip_fields) -> tuple[int, CentralStore]:
    """A clip copied to a fresh bucket by the real replicator, its copy confirmed."""
    central = fresh_bucket(server)
    clip_id = records.add_clip(**clip_fields)
    sha = records.sha_of(clip_id)
    with records.db.transaction() as session:
        replicas.queue(session, sha, records.store.path_of(sha).stat().st_size, NOW)
    data_dir = records.store.root.parent
    replicator = Replicator(
        records.db, records.store, central, CentralSettings(), FixedClock(NOW), data_dir,
        dock_id="dock-01",
    )  # fmt: skip
    assert replicator.replicate(sha) == 1
    return clip_id, central


def mirror(records, central: CentralStore, clip_id: int):
    with records.db.transaction() as session:
        policy.compute_missing(session, records.settings.retention, CUSTODIAN, NOW)
        return holds.mirror_clip(session, central, clip_id, actor=CUSTODIAN, now=NOW)


def delete_version(server: SeaweedServer, central: CentralStore, sha: str) -> None:
    version = central.head(sha).version_id  # type: ignore[union-attr]
    assert version, "an object-locked bucket is versioned: the copy has a version id"
    server.client().delete_object(Bucket=central.bucket, Key=object_key(sha), VersionId=version)


def assert_deletion_refused(server: SeaweedServer, central: CentralStore, sha: str) -> None:
    """Even the bucket owner's delete of the copy's version is refused, and the copy stays."""
    with pytest.raises(ClientError) as refused:
        delete_version(server, central, sha)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert central.head(sha) is not None


def legal_hold_of(server: SeaweedServer, central: CentralStore, sha: str) -> str:
    answer = server.client().get_object_legal_hold(Bucket=central.bucket, Key=object_key(sha))
    return str(answer["LegalHold"]["Status"])


def test_a_held_clip_mirrored_to_the_central_copy_refuses_deletion_there(
    make_records,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    records = make_records(default_days=180, category_days={"交通事故": 3650})
    clip_id, central = replicated_clip(records, seaweed, days_old=2, category="交通事故")
    sha = records.sha_of(clip_id)
    first = central.head(sha)
    assert first is not None and first.retain_until is not None
    with records.db.transaction() as session:
        holds.place_hold(
            session, clip_id=clip_id, case_number=None, kind=HoldKind.DISPUTE,
            note="complaint expected", actor=CUSTODIAN, now=NOW,
        )  # fmt: skip

    event = mirror(records, central, clip_id)

    with records.db.transaction() as session:
        end = session.get_one(ClipRetention, clip_id).retention_end
    assert end == NOW - timedelta(days=2) + timedelta(days=3650)
    assert event is not None and event.is_legal_hold and event.retain_until == end
    assert legal_hold_of(seaweed, central, sha) == "ON"
    moved = central.head(sha)
    assert moved is not None and moved.retain_until is not None
    assert moved.retain_until > first.retain_until
    assert abs((moved.retain_until - end).total_seconds()) < 1
    assert_deletion_refused(seaweed, central, sha)


def test_lifting_the_hold_turns_the_legal_hold_off_but_the_retain_until_still_refuses(
    records,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    clip_id, central = replicated_clip(records, seaweed, days_old=2)
    sha = records.sha_of(clip_id)
    with records.db.transaction() as session:
        hold = holds.place_hold(
            session, clip_id=clip_id, case_number=None, kind=HoldKind.BY_HAND,
            note="", actor=CUSTODIAN, now=NOW,
        )  # fmt: skip
    mirror(records, central, clip_id)
    assert legal_hold_of(seaweed, central, sha) == "ON"
    wang = records.actor("wang")
    with records.db.transaction() as session:
        request = holds.request_lift(
            session, records.commands, wang, hold.id, why="complaint withdrawn"
        )
        request_id = request.id
    records.approve(request_id)
    with records.db.transaction() as session:
        holds.lift_hold(session, records.commands, wang, hold.id)

    event = mirror(records, central, clip_id)

    assert event is not None and not event.is_legal_hold
    assert legal_hold_of(seaweed, central, sha) == "OFF"
    assert_deletion_refused(seaweed, central, sha)


def test_the_legal_hold_alone_refuses_deletion_and_lifting_it_lets_the_version_go(
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    """An object with no retain-until, so only the legal hold stands in the way."""
    central = fresh_bucket(seaweed)
    sha = "ab" * 32
    seaweed.client().put_object(Bucket=central.bucket, Key=object_key(sha), Body=b"unlocked")
    central.set_legal_hold(sha, is_on=True)
    with pytest.raises(ClientError) as refused:
        delete_version(seaweed, central, sha)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

    central.set_legal_hold(sha, is_on=False)
    delete_version(seaweed, central, sha)

    assert central.head(sha) is None

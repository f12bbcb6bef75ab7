"""The central sample re-reads confirmed copies in a real weed mini, oldest check first, and
finds a copy changed or hidden behind the dock's back.

How the copy is changed although it is locked: the bucket is versioned (object lock needs
it), so COMPLIANCE protects each stored version, not the key. Anyone with write access may
PUT a new version over objects/<sha256> (here with its own COMPLIANCE lock and no checksum,
so only re-hashing the bytes shows the change) or DELETE without a version id (a delete
marker: HEAD says 404). Either way the dock must stop counting that copy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dock.clock import SystemClock
from dock.offload.central_sample import check_central_sample
from dock.offload.fixity import verify_store
from dock.replication import records
from tests.integration.test_delete_after_central_copy import confirm_central_copies
from tests.integration.test_fixity_central_repair import docked_store
from tests.integration.test_offload import journal_entries
from tests.servers.seaweed import seaweed  # noqa: F401 (fixture)


def confirmed_copies(dock, server):
    """Every stored object put into one fresh bucket and recorded as a confirmed copy."""
    names = [p.name for p in docked_store(dock)]
    return confirm_central_copies(dock, server, names), names


def is_replicated(dock, sha256):
    with dock.db.session() as session:
        return records.is_replicated(session, sha256)


def sample(dock, central, count):
    return check_central_sample(
        dock.db, dock.store, central, SystemClock(), count=count, actor="test"
    )


def test_repeated_samples_re_read_every_central_copy_oldest_check_first(dock, seaweed):  # noqa: F811
    central, names = confirmed_copies(dock, seaweed)
    per_run = 2
    seen: list[str] = []
    for _ in range(-(-len(names) // per_run)):
        report = sample(dock, central, per_run)
        assert report.is_intact and report.checked == min(per_run, len(names) - len(seen))
        seen = [e.data["sha256"] for e in journal_entries(dock, "central.object_checked")]
    assert sorted(seen) == sorted(names)  # each once before any twice
    assert {e.data["outcome"] for e in journal_entries(dock, "central.object_checked")} == {
        "intact"
    }


def test_a_central_copy_changed_behind_the_docks_back_is_journaled_and_no_longer_counted(
    dock,
    seaweed,  # noqa: F811
):
    central, names = confirmed_copies(dock, seaweed)
    changed, hidden = names[0], names[1]
    client = seaweed.client()
    client.put_object(
        Bucket=central.bucket,
        Key=f"objects/{changed}",
        Body=b"not the evidence",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=datetime.now(UTC) + timedelta(days=1),
    )
    client.delete_object(Bucket=central.bucket, Key=f"objects/{hidden}")  # a delete marker
    report = verify_store(
        dock.db, dock.store, SystemClock(), central=central, central_sample=len(names)
    )
    assert report.is_intact  # the local store is fine
    assert report.central is not None and report.central.checked == len(names)
    damaged = {e.data["sha256"]: e.data for e in journal_entries(dock, "central.object_damaged")}
    assert set(damaged) == {changed, hidden}
    assert damaged[hidden]["is_missing"] and not damaged[changed]["is_missing"]
    assert "no longer hash to its name" in damaged[changed]["detail"], damaged[changed]
    assert not is_replicated(dock, changed) and not is_replicated(dock, hidden)
    assert all(is_replicated(dock, n) for n in names[2:])
    outcomes = {
        e.data["sha256"]: e.data["outcome"] for e in journal_entries(dock, "central.object_checked")
    }
    assert outcomes[changed] == "damaged" and outcomes[hidden] == "missing"
    with dock.db.session() as session:
        waiting = {row.sha256 for row in records.pending(session)}
    assert waiting == {changed, hidden}  # the replicator takes them up again

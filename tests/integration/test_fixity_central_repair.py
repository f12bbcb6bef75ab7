"""`dock store verify` finds a flipped byte and a deleted object and puts both back from the
verified central copy (a real weed mini); with no good copy anywhere it only reports."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from dock.clock import SystemClock
from dock.offload.fixity import verify_store
from dock.replication.central import CentralStore
from tests.integration.test_offload import journal_entries
from tests.servers.seaweed import SECRET_KEY, seaweed  # noqa: F401 (fixture)


def docked_store(dock):
    recorder = dock.recorder("ZFY80002", clip_count=3)
    dock.start()
    dock.plug(recorder, 1)
    dock.next_result()
    return sorted(p for p in dock.store.objects_dir.rglob("*") if p.is_file())


def central_of(server) -> CentralStore:
    return CentralStore(
        endpoint_url=server.endpoint_url,
        bucket=server.new_bucket(),
        region="us-east-1",
        access_key_id=server.access_key_id,
        secret_access_key=SECRET_KEY,
    )


def damage(objects):
    original = objects[0].read_bytes()
    os.chmod(objects[0], 0o644)
    objects[0].write_bytes(bytes([original[0] ^ 1]) + original[1:])
    os.unlink(objects[1])
    return original


def test_a_flipped_byte_and_a_deleted_object_are_repaired_from_the_central_copy(dock, seaweed):  # noqa: F811
    objects = docked_store(dock)
    central = central_of(seaweed)
    until = datetime.now(UTC) + timedelta(days=1)
    wanted = {p.name: p.read_bytes() for p in objects[:2]}
    for path in objects[:2]:
        central.put(path.name, path, {}, until)
    damage(objects)
    report = verify_store(dock.db, dock.store, SystemClock(), central=central)
    assert report.is_intact, [p.line() for p in report.problems]
    assert sorted(report.repaired) == sorted(wanted)
    for name, data in wanted.items():
        assert dock.store.path_of(name).read_bytes() == data
        assert not os.access(dock.store.path_of(name), os.W_OK) or os.geteuid() == 0
    assert {e.data["sha256"] for e in journal_entries(dock, "store.object_repaired")} == set(wanted)
    outcomes = {e.data["outcome"] for e in journal_entries(dock, "store.object_checked")}
    assert outcomes == {"intact", "damaged", "missing"}
    assert verify_store(dock.db, dock.store, SystemClock()).is_intact


def test_a_damaged_object_with_no_good_copy_is_reported_and_not_repaired(dock, seaweed):  # noqa: F811
    objects = docked_store(dock)
    central = central_of(seaweed)  # an empty bucket: no central copy at all
    damage(objects)
    report = verify_store(dock.db, dock.store, SystemClock(), central=central)
    assert sorted(p.sha256 for p in report.problems) == sorted(p.name for p in objects[:2])
    assert report.repaired == []
    assert journal_entries(dock, "store.object_repaired") == []


def test_the_oldest_first_rotation_covers_the_whole_store_over_consecutive_runs(dock):
    objects = docked_store(dock)
    share = 1 / len(objects)
    for _ in objects:
        assert verify_store(dock.db, dock.store, SystemClock(), share=share).checked == 1
    checked = [e.data["sha256"] for e in journal_entries(dock, "store.object_checked")]
    assert sorted(checked) == sorted(p.name for p in objects)


def test_a_damaged_object_whose_central_copy_was_changed_too_is_never_repaired_from_it(
    dock,
    seaweed,  # noqa: F811
):
    objects = docked_store(dock)
    central = central_of(seaweed)
    until = datetime.now(UTC) + timedelta(days=1)
    central.put(objects[0].name, objects[0], {}, until)
    seaweed.client().put_object(  # a new locked version over the good one, no checksum
        Bucket=central.bucket,
        Key=f"objects/{objects[0].name}",
        Body=b"bad bytes in the central store",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )
    damage(objects)
    damaged_bytes = objects[0].read_bytes()
    report = verify_store(dock.db, dock.store, SystemClock(), central=central)
    assert objects[0].name in {p.sha256 for p in report.problems}
    assert report.repaired == []
    assert journal_entries(dock, "store.object_repaired") == []
    assert objects[0].read_bytes() == damaged_bytes  # left for a person, not overwritten
    assert list(dock.store.tmp_dir.iterdir()) == []  # the bad download was not kept

"""A fixity failure, its repair and a damaged central copy each reach the registry as an
alert: the dock journals them, reporting publishes every row, the registry raises them."""

from __future__ import annotations

import os

from sqlalchemy import select

from dock import journal
from dock.clock import FixedClock, SystemClock
from dock.offload.fixity import verify_store
from firmware_bridge import reporting
from registry.db import migrate, open_engine, session_factory
from registry.ingest import Ingestor
from registry.models import Alert
from tests.integration.test_fixity_central_sample import confirmed_copies
from tests.servers.seaweed import seaweed  # noqa: F401 (fixture)

PREFIX = "bodycam-dock"


def registry_alerts(dock, tmp_path):
    """Every journal row, as the publisher sends it, consumed by a real registry on SQLite."""
    engine = open_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    clock = FixedClock(SystemClock().now_utc())
    ingestor = Ingestor(
        sessions=session_factory(engine), prefix=PREFIX, clock=clock, public_keys={}
    )
    with dock.db.transaction() as session:
        entries = journal.read_after(session, 0, limit=100_000)
    for entry in entries:
        ingestor.consume(
            reporting.journal_topic(PREFIX, "dock-1", entry.type),
            reporting.encode(reporting.row_message("dock-1", entry)),
        )
    with ingestor.sessions() as session:
        found = {(a.kind, a.subject) for a in session.scalars(select(Alert))}
    engine.dispose()
    return found


def test_damage_repair_and_a_damaged_central_copy_each_raise_an_alert(dock, seaweed, tmp_path):  # noqa: F811
    central, names = confirmed_copies(dock, seaweed)
    flipped, lost_centrally = names[0], names[-1]
    path = dock.store.path_of(flipped)
    original = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(bytes([original[0] ^ 1]) + original[1:])
    seaweed.client().delete_object(Bucket=central.bucket, Key=f"objects/{lost_centrally}")
    report = verify_store(
        dock.db, dock.store, SystemClock(), central=central, central_sample=len(names)
    )
    assert report.repaired == [flipped]
    alerts = registry_alerts(dock, tmp_path)
    fixity_kinds = {"object_damaged", "object_repaired", "central_object_damaged"}
    raised = {(kind, subject) for kind, subject in alerts if kind in fixity_kinds}
    assert raised == {  # the intact objects raise none
        ("object_damaged", flipped),
        ("object_repaired", flipped),
        ("central_object_damaged", lost_centrally),
    }

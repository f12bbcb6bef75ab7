"""Fixity of the central copy: a sample of confirmed objects downloaded and re-hashed.

A HEAD only repeats what the store says about itself; reading the bytes back is the check
(NDSA: every copy re-checked). The sample takes the confirmed copies checked longest ago (or
never) first, read from the journal's own central.object_checked rows, so repeated runs
cycle through the whole central store with no extra table. A copy that is gone, changed, or
no longer locked stops counting (its replicas row is unconfirmed in the same transaction as
its central.object_damaged row), so recorders keep those clips and the replicator takes the
object up again from the good local copy; a store that cannot be reached ends the sample
without judging anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from dock import journal
from dock.clock import Clock
from dock.db.database import Database
from dock.db.models import JournalRow, Replica
from dock.events import CentralObjectChecked, CentralObjectDamaged
from dock.offload.store import EvidenceStore
from dock.replication import records
from dock.replication.central import (
    CentralObjectRefused,
    CentralStore,
    CentralStoreError,
)


@dataclass
class CentralSampleReport:
    checked: int = 0
    damaged: list[str] = field(default_factory=list)  # one line each, what to do
    unreachable: str = ""  # why the sample stopped early

    @property
    def is_intact(self) -> bool:
        return not self.damaged and not self.unreachable


def sample_order(db: Database, count: int) -> list[str]:
    """The `count` confirmed copies whose last central check is oldest (never first)."""
    with db.session() as session:
        confirmed = list(
            session.execute(
                select(Replica.sha256, Replica.confirmed_at_utc).where(
                    Replica.confirmed_at_utc.is_not(None)
                )
            )
        )
        last: dict[str, datetime] = {}
        for at, data in session.execute(
            select(JournalRow.at_utc, JournalRow.data).where(
                JournalRow.type == CentralObjectChecked.type
            )
        ):
            last[str(json.loads(data)["sha256"])] = at
    confirmed.sort(key=lambda r: (r[0] in last, last.get(r[0], r[1]), r[1], r[0]))
    return [sha256 for sha256, _ in confirmed[:count]]


def _fault(store: EvidenceStore, central: CentralStore, sha256: str) -> tuple[str, str]:
    """("", "") for a good copy, else (outcome, detail). Raises CentralStoreUnreachable."""
    found = central.head(sha256)
    if found is None:
        return "missing", "the store no longer holds it"
    if not found.is_multipart and found.checksum_sha256 not in ("", sha256):
        return "damaged", f"the store's checksum says {found.checksum_sha256[:12]}"
    if found.lock_mode != "COMPLIANCE":
        return "damaged", f"its object lock is {found.lock_mode or 'gone'}"
    fd, tmp = store.open_temp()
    os.close(fd)
    try:
        central.download(sha256, tmp)
    except CentralObjectRefused:
        return "damaged", "its bytes no longer hash to its name"
    finally:
        store.discard(tmp)
    return "", ""


def check_central_sample(
    db: Database,
    store: EvidenceStore,
    central: CentralStore,
    clock: Clock,
    *,
    count: int,
    actor: str,
) -> CentralSampleReport:
    """Download and re-hash up to `count` central copies; journal each check and each fault."""
    report = CentralSampleReport()
    for sha256 in sample_order(db, count):
        try:
            outcome, detail = _fault(store, central, sha256)
        except CentralStoreError as exc:  # unreachable or refusing: judge nothing
            report.unreachable = str(exc)
            break
        report.checked += 1
        now = clock.now_utc()
        with db.transaction() as session:
            journal.append(
                session,
                CentralObjectChecked(sha256=sha256, outcome=outcome or "intact"),
                actor=actor,
                at=now,
            )
            if not outcome:
                continue
            journal.append(
                session,
                CentralObjectDamaged(sha256=sha256, is_missing=outcome == "missing", detail=detail),
                actor=actor,
                at=now,
            )
            records.unconfirm(session, sha256)
        report.damaged.append(
            f"central copy of {sha256} {outcome}: {detail}; it no longer counts as a copy, "
            "its clips stay on their recorders until the replicator confirms a new one"
        )
    return report

"""Fixity: does every stored object still hash to its name, and is every recorded one there?

The journal's hash chain proves the records were not edited (`dock audit verify`); only
re-reading the objects proves the evidence itself was not (`dock store verify`). A share
below 1 checks the objects checked longest ago (or never) first, so repeated runs cover the
whole store: the scheduled share, 1/(period_days*runs_per_day) ([fixity]), covers it within
the period. Hashing runs outside any transaction; each check (PREMIS "fixity check": the
object, its outcome, the row's time, the actor as agent) and each problem is journaled at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from dock import journal
from dock.clock import Clock
from dock.config import FixitySettings
from dock.db.database import Database
from dock.db.models import Clip
from dock.events import StoreObjectChecked, StoreObjectDamaged, StoreObjectRepaired, StoreVerified
from dock.offload.store import EvidenceStore, FixityProblem

if TYPE_CHECKING:
    from dock.offload.central_sample import CentralSampleReport
    from dock.replication.central import CentralStore

ACTOR = "store-verify"


@dataclass
class FixityReport:
    checked: int = 0
    of_total: int = 0
    problems: list[FixityProblem] = field(default_factory=list)  # not repaired
    repaired: list[str] = field(default_factory=list)  # sha256s put back from the central copy
    share: float = 1.0
    # Every object hashed intact at or after this time; None while one never was.
    covered_since: datetime | None = None
    central: CentralSampleReport | None = None  # the central copies re-read this run

    @property
    def is_intact(self) -> bool:
        return not self.problems

    def coverage(self) -> str:
        share = "all" if self.share >= 1 else f"share {self.share:.4g}"
        since = (
            f"whole store last covered since {self.covered_since.isoformat(timespec='seconds')}"
            if self.covered_since is not None
            else "whole store not yet covered"
        )
        return f"{share} of the store this run; {since}"

    def summary(self) -> str:
        if self.is_intact:
            repaired = f", {len(self.repaired)} repaired from the central copy" * bool(
                self.repaired
            )
            return (
                f"store intact: {self.checked} of {self.of_total} object(s) re-hashed, "
                f"all match{repaired} ({self.coverage()})"
            )
        return (
            f"store DAMAGED: {len(self.problems)} of {self.checked} re-hashed object(s) missing "
            "or changed; re-dock the recorders that still hold them, or restore from a copy "
            f"({self.coverage()})"
        )


def scheduled_share(fixity: FixitySettings) -> float:
    """The share per run that covers the whole store in period_days at runs_per_day."""
    return 1.0 / (fixity.period_days * fixity.runs_per_day)


def verify_store(
    db: Database,
    store: EvidenceStore,
    clock: Clock,
    *,
    share: float = 1.0,
    actor: str = ACTOR,
    central: CentralStore | None = None,
    central_sample: int = 0,
) -> FixityReport:
    """Re-hash `share` (0 < share <= 1) of the recorded objects; journal each check and
    each problem, and repair what the central copy (when given) holds good bytes for; then
    re-read `central_sample` central copies."""
    with db.transaction() as session:
        total = session.scalar(select(func.count(Clip.id))) or 0
        wanted = max(1, math.ceil(share * total)) if total else 0
        due = session.execute(
            select(Clip.sha256, Clip.officer_number)
            .order_by(Clip.last_fixity_utc.is_not(None), Clip.last_fixity_utc, Clip.id)
            .limit(wanted)
        ).all()
    report = FixityReport(checked=len(due), of_total=total, share=share)
    for sha256, officer_number in due:
        found = store.verify_objects([sha256])
        now = clock.now_utc()
        problem = found[0] if found else None
        outcome = "intact" if problem is None else "missing" if problem.is_missing else "damaged"
        with db.transaction() as session:
            checked = StoreObjectChecked(
                sha256=sha256, outcome=outcome, officer_number=officer_number
            )
            journal.append(session, checked, actor=actor, at=now)
            if problem is None:
                session.execute(
                    update(Clip).where(Clip.sha256 == sha256).values(last_fixity_utc=now)
                )
            else:
                journal.append(
                    session,
                    StoreObjectDamaged(
                        sha256=sha256, is_missing=problem.is_missing, found_by="store verify"
                    ),
                    actor=actor,
                    at=now,
                )
        if problem is not None:
            damaged_copy: Path | None = None
            if central is not None:
                from dock.offload.central_repair import repair_from_central

                damaged_copy = repair_from_central(store, central, sha256)
            if damaged_copy is None:
                report.problems.append(problem)
                continue
            report.repaired.append(sha256)
            with db.transaction() as session:
                journal.append(
                    session,
                    StoreObjectRepaired(
                        sha256=sha256,
                        source_path="central:" + sha256,
                        damaged_copy=str(damaged_copy) if damaged_copy.name else "",
                    ),
                    actor=actor,
                    at=clock.now_utc(),
                )
                session.execute(
                    update(Clip).where(Clip.sha256 == sha256).values(last_fixity_utc=now)
                )
    if central is not None and central_sample > 0:
        from dock.offload.central_sample import check_central_sample

        report.central = check_central_sample(
            db, store, central, clock, count=central_sample, actor=actor
        )
    with db.transaction() as session:
        never, oldest = session.execute(
            select(
                func.count(Clip.id) - func.count(Clip.last_fixity_utc),
                func.min(Clip.last_fixity_utc),
            )
        ).one()
        if total and not never and oldest is not None:
            report.covered_since = oldest
        journal.append(
            session,
            StoreVerified(
                checked_count=report.checked,
                problem_count=len(report.problems),
                share=share,
                covered_since=report.covered_since,
            ),
            actor=actor,
            at=clock.now_utc(),
        )
    return report

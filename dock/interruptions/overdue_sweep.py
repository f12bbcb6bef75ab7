"""Alert overdue interruptions even when their recorder never docks again.

A docking raises the alert for its own recorder (reading.update_interruptions). A recorder
that is lost, broken or left in a drawer never docks, so its unexplained interruption would
never be alerted: the service sweeps every `overdue_sweep_minutes` and runs the same update
for each recorder with an unexplained, not yet alerted interruption past the limit. The
sweeper blocks on its stop Event between sweeps, so an idle dock still sleeps.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import select

from dock.clock import Clock
from dock.config import InterruptionSettings
from dock.db.database import Database
from dock.db.models import InterruptionRow
from dock.errors import DockError
from dock.interruptions.reading import update_interruptions
from dock.interruptions.timeline import Status

log = logging.getLogger(__name__)


def sweep_overdue(db: Database, clock: Clock, settings: InterruptionSettings) -> int:
    """Alert (once, journaled) every overdue interruption; how many recorders were updated."""
    cutoff = clock.now_utc() - timedelta(hours=settings.unexplained_alert_hours)
    with db.transaction() as session:
        serials = sorted(
            set(
                session.scalars(
                    select(InterruptionRow.device_serial).where(
                        InterruptionRow.status == Status.UNEXPLAINED,
                        InterruptionRow.overdue_alerted_at_utc.is_(None),
                        InterruptionRow.start_utc < cutoff,
                    )
                )
            )
        )
    for serial in serials:
        update_interruptions(db, serial, None, clock, settings)
    return len(serials)


class OverdueSweeper:
    """A thread that sweeps every `every_s` seconds until stopped (no busy loop)."""

    def __init__(
        self, db: Database, clock: Clock, settings: InterruptionSettings, *, every_s: float
    ) -> None:
        self._db, self._clock, self._settings, self._every_s = db, clock, settings, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="overdue-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                sweep_overdue(self._db, self._clock, self._settings)
            except DockError as err:  # the next sweep tries again; the bays go on
                log.warning("overdue sweep failed: %s", err)

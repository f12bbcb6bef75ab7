"""The replicator: a journal reader that gives every stored clip and voice note its central copy.

Why a journal reader: a bay's transaction must never wait for the object store. The replicator
reads clip.stored rows (recorder clips, recorder voice notes) and interruption.explained rows
with a dock-recorded note (note_sha256) after its CursorFile, queues each object in the
replicas table, and uploads from the local store (never from the recorder, so undocking
changes nothing). The replicas table, not the cursor, is the truth of what is confirmed: the
cursor only says which rows were queued, and queueing is idempotent, so a crash between the
two re-queues nothing twice. The same pass mirrors holds and retention ends (hold.placed,
hold.lifted and retention.changed rows queue their clips in pending_mirrors,
dock.retention.holds), so a mirror the store could not take waits there for the next pass.

A copy counts only when HEAD answers our SHA-256 (for a multipart object, the composite of
the part SHA-256s we computed from the local bytes, after the local file was checked against
its name) and a COMPLIANCE lock until at least the wanted date. Anything else is journaled
as replication.refused and never counted.

Throttle: a token bucket on the bytes the replicator reads. While an offload runs (the
`offload_rate` callable returns its measured bytes/s), replication may read at most
bandwidth_share of that rate; with no offload it runs at full speed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dock import journal
from dock.clock import Clock
from dock.config import CentralSettings
from dock.db.database import Database
from dock.db.models import Clip, JournalRow, Replica
from dock.events import (
    ClipStored,
    Event,
    InterruptionExplained,
    OffloadFinished,
    OffloadProgress,
    OffloadStarted,
    ReplicationBacklog,
    ReplicationBacklogCleared,
)
from dock.journal_reader import CursorFile, read_after
from dock.offload.store import EvidenceStore
from dock.replication import records
from dock.replication.central import (
    CONCURRENCY,
    CentralObject,
    CentralRequestRefused,
    CentralStore,
    CentralStoreError,
    LocalBytesMismatch,
    central_from_settings,
    composite_checksum,
    part_checksums,
)
from dock.retention import holds

log = logging.getLogger(__name__)
CURSOR_NAME = "replication.cursor.json"
BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 900.0
LOCK_SLACK = timedelta(seconds=1)
BACKGROUND_NICE = 10  # added to the thread's nice value: offloads and checks go first


@dataclass
class TokenBucket:
    """Bytes per second with a one-second burst; rate None means no limit."""

    clock: Clock
    sleep: Callable[[float], Any]
    rate: Callable[[], float | None]
    _tokens: float = 0.0
    _at: float | None = field(default=None)

    def take(self, n_bytes: int) -> None:
        limit = self.rate()
        if not limit:
            self._at = None
            return
        now = self.clock.monotonic_s()
        if self._at is None:
            self._at, self._tokens = now, limit
        self._tokens = min(limit, self._tokens + (now - self._at) * limit)
        self._at = now
        self._tokens -= n_bytes
        if self._tokens < 0:
            wait_s = -self._tokens / limit
            self.sleep(wait_s)
            self._at = self.clock.monotonic_s()
            self._tokens = 0.0


class OffloadRate:
    """The bytes/s of the offloads running now, measured from their progress events."""

    STALE_S = 60.0

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._bays: dict[int | None, tuple[float, float, float]] = {}  # start, last, rate
        self._lock = threading.Lock()

    def hear(self, happened: Event) -> None:
        now = self.clock.monotonic_s()
        with self._lock:
            if isinstance(happened, OffloadStarted):
                self._bays[happened.bay] = (now, now, 0.0)
            elif isinstance(happened, OffloadProgress) and happened.bay in self._bays:
                start, _last, _rate = self._bays[happened.bay]
                rate = happened.done_bytes / max(now - start, 1e-3)
                self._bays[happened.bay] = (start, now, rate)
            elif isinstance(happened, OffloadFinished):
                self._bays.pop(happened.bay, None)

    def __call__(self) -> float | None:
        now = self.clock.monotonic_s()
        with self._lock:
            live = [r for _s, last, r in self._bays.values() if now - last < self.STALE_S]
        total = sum(live)
        return total if total > 0 else None


class Replicator:
    """Queue from the journal, upload, confirm; one pass at a time, from one thread."""

    def __init__(
        self,
        db: Database,
        store: EvidenceStore,
        central: CentralStore,
        settings: CentralSettings,
        clock: Clock,
        data_dir: Path,
        *,
        dock_id: str,
        offload_rate: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.db, self.store, self.central, self.settings = db, store, central, settings
        self.clock, self.dock_id = clock, dock_id
        self.cursor_file = CursorFile(data_dir / CURSOR_NAME)
        loaded = self.cursor_file.load()
        self.cursor: int = loaded[0] if loaded else 0
        self.state: dict[str, Any] = loaded[1] if loaded else {}
        self._stop = threading.Event()
        share = settings.bandwidth_share
        self.throttle = TokenBucket(
            clock,
            self._stop.wait,
            lambda: (r * share) if (r := offload_rate()) else None,
        )
        self.is_outage = False
        self.backoff_s = BACKOFF_FIRST_S

    # -- reading the journal ----------------------------------------------------------------

    def queue_new(self) -> int:
        """Queue every stored object the journal names after the cursor; returns how many."""
        queued = 0
        while True:
            batch = read_after(self.db, self.cursor, limit=500)
            if not batch:
                return queued
            now = self.clock.now_utc()
            with self.db.transaction() as session:
                for typed in batch:
                    found = self._object_of(typed.event)
                    if found is not None:
                        records.queue(session, found[0], found[1], now)
                        queued += 1
                    # a hold placed or lifted, an end moved: its copies follow
                    holds.queue_mirrors(session, holds.clips_to_mirror(session, typed.event), now)
            self.cursor = batch[-1].entry.id
            self.cursor_file.save(self.cursor, self.state)

    def _object_of(self, event: Any) -> tuple[str, int] | None:
        if isinstance(event, ClipStored):
            return event.sha256, event.size_bytes
        if isinstance(event, InterruptionExplained) and event.note_sha256 and event.via == "dock":
            path = self.store.path_of(event.note_sha256)
            return event.note_sha256, path.stat().st_size if path.exists() else 0
        return None

    # -- uploading ----------------------------------------------------------------------------

    def run_once(self) -> int:
        """Queue, then upload what waits; returns the number confirmed. Raises on an outage."""
        self.queue_new()
        holds.mirror_pending(self.db, self.central, self.clock, actor=records.ACTOR)
        confirmed = 0
        while not self._stop.is_set():
            with self.db.transaction() as session:
                rows = [(r.sha256, r.size_bytes) for r in records.pending(session, limit=50)]
            if not rows:
                break
            for sha256, _size in rows:
                if self._stop.is_set():
                    break
                confirmed += self.replicate(sha256)
        self._check_backlog()
        return confirmed

    def replicate(self, sha256: str) -> int:
        """One object to the store; 1 when it is now a confirmed copy, else 0.

        The local file is not pre-read: `put` hashes it against its name while it sends it,
        so a damaged local object is refused before any upload completes.
        """
        path = self.store.path_of(sha256)
        if not path.exists():
            self._refuse(sha256, "local_mismatch", "local object missing")
            return 0
        retain_until, metadata, progress = self._plan(sha256)
        found = self.central.head(sha256)
        if found is not None and self._counts(found, path, retain_until):
            return self._judge(found, path, retain_until)
        if found is not None and found.lock_mode is not None:
            # A locked object under our name that does not count: nothing may replace it.
            return self._judge(found, path, retain_until)
        try:
            found, sent = self.central.put(
                sha256,
                path,
                metadata,
                retain_until,
                progress=progress,
                on_progress=lambda p: self._save_progress(sha256, p),
                read_gate=self.throttle.take,
                in_flight=lambda: 1 if self.throttle.rate() else CONCURRENCY,
            )
        except LocalBytesMismatch as mismatch:
            self._refuse(sha256, "local_mismatch", str(mismatch))
            return 0
        except CentralRequestRefused as refused:
            if refused.is_lock_refused:
                self._refuse(sha256, "lock_refused", str(refused))
                return 0
            raise
        return self._judge(found, path, retain_until, sent)

    def _judge(
        self, found: CentralObject, path: Path, retain_until: datetime, sent: str = ""
    ) -> int:
        if self._counts(found, path, retain_until, sent):
            with self.db.transaction() as session:
                now = self.clock.now_utc()
                records.confirm(session, found, self.central.endpoint_url, now)
                queued = holds.queue_new_copy(session, found.sha256, now)  # its hold and end
            if queued:  # most clips have neither: no further transaction
                holds.mirror_pending(
                    self.db, self.central, self.clock, actor=records.ACTOR, only=found.sha256
                )
            return 1
        if found.lock_mode != "COMPLIANCE" or found.retain_until is None:
            self._refuse(found.sha256, "lock_missing", f"lock {found.lock_mode}")
        elif found.retain_until + LOCK_SLACK < retain_until:
            self._refuse(found.sha256, "lock_missing", f"retained only to {found.retain_until}")
        else:
            self._refuse(found.sha256, "checksum_mismatch", f"store says {found.checksum_sha256}")
        return 0

    def _counts(
        self, found: CentralObject, path: Path, retain_until: datetime, sent: str = ""
    ) -> bool:
        """COMPLIANCE-locked long enough, and the checksum we computed (or recompute) from
        the local bytes; `sent` is the one computed while uploading, saving a re-read."""
        return (
            found.lock_mode == "COMPLIANCE"
            and found.retain_until is not None
            and found.retain_until + LOCK_SLACK >= retain_until
            and found.checksum_sha256 == (sent or self._expected_checksum(found, path))
        )

    def _expected_checksum(self, found: CentralObject, path: Path) -> str:
        if not found.is_multipart:
            return found.sha256
        parts = int(found.checksum_sha256.rsplit("-", 1)[1])
        size = path.stat().st_size
        part_size = -(-size // parts) if parts > 1 else max(size, 1)
        # Parts are all part_size but the last: recover the size the upload used.
        for candidate in (self.central.part_size_bytes, part_size):
            if -(-size // candidate) == parts:
                return composite_checksum(part_checksums(path, candidate))
        return ""

    def _plan(self, sha256: str) -> tuple[datetime, dict[str, str], Any]:
        with self.db.transaction() as session:
            row = session.get(Replica, sha256)
            clip = session.query(Clip).filter(Clip.sha256 == sha256).one_or_none()
            progress = records.progress_of(row) if row else None
            if row is not None:
                row.attempts += 1
            start = clip.recorded_start_utc if clip else (row.queued_at_utc if row else None)
            metadata = {"dock": self.dock_id, "sha256": sha256}
            if clip is not None:
                metadata.update(
                    device=clip.device_serial,
                    officer=clip.officer_number or "",
                    start=clip.recorded_start_utc.isoformat(),
                    end=clip.recorded_end_utc.isoformat(),
                )
        base = start or self.clock.now_utc()
        return base + timedelta(days=self.settings.retention_days), metadata, progress

    def _save_progress(self, sha256: str, progress: Any) -> None:
        with self.db.transaction() as session:
            records.save_progress(session, sha256, progress)

    def _refuse(self, sha256: str, reason: str, detail: str) -> None:
        log.warning("central copy of %s not counted: %s (%s)", sha256[:12], reason, detail)
        with self.db.transaction() as session:
            records.refuse(session, sha256, reason, detail, self.clock.now_utc())

    def _check_backlog(self) -> None:
        """Journal replication.backlog once when more than backlog_alert objects wait, and
        replication.backlog_cleared once they fall to half of it (no flapping at the line).
        Whether the alert stands is read from the journal, so a restart repeats neither."""
        with self.db.transaction() as session:
            waiting, oldest = records.backlog(session)
            last = session.scalar(
                select(JournalRow.type)
                .where(
                    JournalRow.type.in_((ReplicationBacklog.type, ReplicationBacklogCleared.type))
                )
                .order_by(JournalRow.id.desc())
                .limit(1)
            )
            alerted = last == ReplicationBacklog.type
            threshold = self.settings.backlog_alert
            if waiting > threshold and not alerted:
                journal.append(
                    session,
                    ReplicationBacklog(
                        waiting=waiting, threshold=threshold, oldest_queued_utc=oldest
                    ),
                    actor=records.ACTOR,
                    at=self.clock.now_utc(),
                )
            elif waiting <= threshold // 2 and alerted:
                journal.append(
                    session,
                    ReplicationBacklogCleared(waiting=waiting, threshold=threshold),
                    actor=records.ACTOR,
                    at=self.clock.now_utc(),
                )

    # -- the thread ---------------------------------------------------------------------------

    def run_forever(self, idle_s: float = 5.0) -> None:
        """Passes until stop(); an outage backs off and logs once when it starts and ends.

        The thread (and the upload threads it starts, which inherit it) runs at a lower CPU
        priority: on a busy dock an offload must never wait for a copy that can wait."""
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
        while not self._stop.is_set():
            try:
                self.run_once()
            except CentralStoreError as err:
                if not self.is_outage:
                    log.warning("%s", err)
                    self.is_outage = True
                self._check_backlog_quietly()
                self._stop.wait(self.backoff_s)
                self.backoff_s = min(BACKOFF_MAX_S, self.backoff_s * 2)
                continue
            if self.is_outage:
                log.info("central store %s reachable again", self.central.endpoint_url)
                self.is_outage = False
            self.backoff_s = BACKOFF_FIRST_S
            self._stop.wait(idle_s)

    def _check_backlog_quietly(self) -> None:
        try:
            self.queue_new()
            self._check_backlog()
        except Exception:  # the journal is local: a failure here is a bug, logged
            log.exception("replication backlog check failed")

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="replicator", daemon=True)
        thread.start()
        self._thread = thread
        return thread

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join(timeout_s)


def build_replicator(settings: Any, db: Database, clock: Clock) -> Replicator | None:
    """The service's replicator, or None when [central] endpoint_url is empty."""
    client = central_from_settings(settings.central)
    if client is None:
        return None
    store = EvidenceStore(
        settings.dock.data_dir / "store",
        reserve_bytes=settings.offload.reserve_bytes,
        sweeps_temp_files=False,
    )
    rate = OffloadRate(clock)
    if db.bus is not None:
        db.bus.subscribe(rate.hear)
    return Replicator(
        db,
        store,
        client,
        settings.central,
        clock,
        settings.dock.data_dir,
        dock_id=settings.dock.dock_id,
        offload_rate=rate,
    )

"""Taking a docked recorder's clips into the evidence store, and only then freeing its card.

The order is the rule (MISSION.md: never edit or delete an original; hand over within 24 h):
  1. list the clips over the link (sizes, the recorder's own hashes);
  2. unlock mass storage for this insertion and open the volume read-only;
  3. per clip: one pass that hashes while writing, fsync, compare, place read-only
     (dock.offload.copy), then the clip's row and journal row in one transaction;
  4. only then, by policy, ask the recorder to delete that clip, sending its hash.
A crash between any two steps leaves the clip on the recorder, in the store, or both: never
neither. Docking again repeats the walk; a clip already stored is recognised by its hash and
not copied again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import cast

from sqlalchemy import select

from dock import journal
from dock.bays.machine import ACTOR
from dock.clock import Clock
from dock.config import Settings
from dock.db.database import Database
from dock.db.models import Clip, Quarantined
from dock.events import (
    ClipAlreadyStored,
    ClipDeletedFromRecorder,
    ClipDeleteRequested,
    ClipQuarantined,
    ClipStored,
    DiskReserveReached,
    Event,
    OffloadFinished,
    OffloadProgress,
    OffloadStarted,
)
from dock.events import VerificationFailed as VerificationFailedEvent
from dock.offload.copy import CopyFailed, CopyResult, ReadableInto, copy_and_hash
from dock.offload.source import ListedClip, Take, classify, printable
from dock.offload.store import DiskReserveReached as DiskFull
from dock.offload.store import EvidenceStore
from firmware_bridge.client import ClipInfo, RecorderClient
from firmware_bridge.errors import LinkError
from hw.mass_storage import MassStorage, MassStorageError
from hw.volumes import VolumeFinder

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 2.0  # journal progress at a bounded rate, not every block


@dataclass
class OffloadReport:
    stored: int = 0
    already_stored: int = 0
    deleted: int = 0
    quarantined: int = 0
    listed_quarantined: int = 0  # clips the recorder listed that could not be taken
    failed: int = 0
    problems: list[str] = field(default_factory=list)  # one line each, for the officer
    stopped: str = ""  # why the offload stopped early, when it did

    def problem(self) -> str:
        """Why the recorder needs a person after this offload, or "" when it does not.

        Files the recorder did not list are recorded but do not hold the bay: cards carry
        their own system files. A listed clip left behind always does.
        """
        if self.stopped:
            return f"offload stopped: {self.stopped}"
        left = self.failed + self.listed_quarantined
        if left:
            return (
                f"{left} clip(s) could not be taken off and stay on the recorder: "
                "hand it to a custodian"
            )
        return ""


@dataclass
class _Progress:
    total_clips: int
    total_bytes: int
    done_clips: int = 0
    done_bytes: int = 0
    last_journaled_s: float = float("-inf")


class Offloader:
    """Shared by every bay: the store, the database, and the limit on bays copying at once."""

    def __init__(
        self,
        db: Database,
        store: EvidenceStore,
        settings: Settings,
        clock: Clock,
        volumes: VolumeFinder,
        *,
        on_bytes: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.clock = clock
        self.volumes = volumes
        self.on_bytes = on_bytes  # (bay, done_bytes, total_bytes) for a progress bar
        self._slots = threading.BoundedSemaphore(settings.offload.max_concurrent_bays)

    def offload(
        self,
        bay: int,
        usb_port_path: str,
        client: RecorderClient,
        serial: str,
        officer_number: str | None,
        clips: list[ClipInfo],
    ) -> OffloadReport:
        """Take `clips` (the recorder's listing) off the recorder in `bay`.

        Raises LinkError when the recorder stops answering and MassStorageError when its
        volume cannot be read; everything stored until then stays stored and journaled.
        """
        report = OffloadReport()
        with self._slots:
            client.set_mass_storage(True)
            try:
                volume = self.volumes.open_volume(usb_port_path, serial)
                try:
                    self._offload_volume(bay, client, serial, officer_number, clips, volume, report)
                finally:
                    volume.close()
            finally:
                self._lock_storage(bay, client)
        return report

    def _lock_storage(self, bay: int, client: RecorderClient) -> None:
        """Switch mass storage off again. If the link is gone the recorder did it itself
        (the unlock lasts one insertion), and the failure that ended the offload is the news."""
        try:
            client.set_mass_storage(False)
        except LinkError as err:
            log.info("bay %d: mass storage not switched off over the link: %s", bay, err)

    def _offload_volume(
        self,
        bay: int,
        client: RecorderClient,
        serial: str,
        officer_number: str | None,
        clips: list[ClipInfo],
        volume: MassStorage,
        report: OffloadReport,
    ) -> None:
        by_path = {c.path: c for c in clips}
        listing = {c.path: ListedClip(c.path, c.size_bytes, c.sha256.hex() or None) for c in clips}
        found = classify(volume.walk(), listing)
        total_bytes = sum(t.listed.size_bytes for t in found.take if t.listed is not None)
        progress = _Progress(len(found.take), total_bytes)
        self._journal(
            OffloadStarted(
                bay=bay, device=serial, clip_count=len(found.take), total_bytes=total_bytes
            )
        )
        for bad in found.quarantine:
            report.quarantined += 1
            report.listed_quarantined += bad.path in listing
            report.problems.append(bad.reason)
            self._quarantine(bay, serial, bad.path, bad.reason)
        for take in found.take:
            assert take.listed is not None  # with a listing, only listed clips are taken
            info = by_path[take.entry.path]
            try:
                result = self._store_one(bay, serial, volume, take, progress)
            except MassStorageError as err:  # this file's chain or directory is broken
                report.quarantined += 1
                report.listed_quarantined += 1
                report.problems.append(str(err))
                self._quarantine(bay, serial, info.path, str(err))
                continue
            except DiskFull as err:
                report.stopped = str(err)
                self._journal(
                    DiskReserveReached(
                        bay=bay,
                        device=serial,
                        free_bytes=self.store.free_bytes(),
                        reserve_bytes=self.store.reserve_bytes,
                    )
                )
                break
            except CopyFailed as err:
                report.failed += 1
                report.problems.append(str(err))
                self._journal(
                    VerificationFailedEvent(
                        bay=bay,
                        device=serial,
                        source_path=printable(info.path),
                        reason=str(err),
                        expected_sha256=info.sha256.hex() or None,
                    )
                )
                continue
            if self._record(bay, serial, officer_number, info, result):
                report.stored += 1
            else:
                report.already_stored += 1
            if self._may_delete(result):
                self._release(bay, client, serial, info.path, result.sha256)
                report.deleted += 1
        self._journal(
            OffloadFinished(
                bay=bay,
                device=serial,
                stored_count=report.stored + report.already_stored,
                quarantined_count=report.quarantined,
                failed_count=report.failed,
            )
        )

    def _store_one(
        self, bay: int, serial: str, volume: MassStorage, take: Take, progress: _Progress
    ) -> CopyResult:
        listed = take.listed
        assert listed is not None
        start_bytes = progress.done_bytes

        def on_progress(done: int) -> None:
            progress.done_bytes = start_bytes + done
            if self.on_bytes is not None:
                self.on_bytes(bay, progress.done_bytes, progress.total_bytes)
            self._maybe_journal_progress(bay, serial, progress)

        with volume.open(take.entry) as stream:
            result = copy_and_hash(
                cast(ReadableInto, stream),
                listed.size_bytes,
                self.store,
                expected_sha256=listed.sha256,
                on_progress=on_progress,
                label=f"{serial} {printable(listed.path)}",
            )
        progress.done_clips += 1
        progress.done_bytes = start_bytes + listed.size_bytes
        self._maybe_journal_progress(bay, serial, progress)
        return result

    def _maybe_journal_progress(self, bay: int, serial: str, progress: _Progress) -> None:
        now_s = self.clock.monotonic_s()
        is_last = progress.done_clips == progress.total_clips
        if now_s - progress.last_journaled_s < PROGRESS_EVERY_S and not is_last:
            return
        progress.last_journaled_s = now_s
        self._journal(
            OffloadProgress(
                bay=bay,
                device=serial,
                done_clips=progress.done_clips,
                total_clips=progress.total_clips,
                done_bytes=progress.done_bytes,
                total_bytes=progress.total_bytes,
            )
        )

    def _record(
        self,
        bay: int,
        serial: str,
        officer_number: str | None,
        info: ClipInfo,
        result: CopyResult,
    ) -> bool:
        """Commit the clip's row with its journal row; False when it was already recorded."""
        now = self.clock.now_utc()
        with self.db.transaction() as session:
            if session.scalar(select(Clip.id).where(Clip.sha256 == result.sha256)) is not None:
                journal.append(
                    session,
                    ClipAlreadyStored(
                        bay=bay, device=serial, sha256=result.sha256, source_path=info.path
                    ),
                    actor=ACTOR,
                    at=now,
                )
                return False
            delay = now - info.end_utc
            is_late = delay > timedelta(hours=self.settings.offload.handover_limit_hours)
            session.add(
                Clip(
                    agency=self.settings.dock.agency,
                    dock_id=self.settings.dock.dock_id,
                    bay=bay,
                    device_serial=serial,
                    officer_number=officer_number,
                    recorded_start_utc=info.start_utc,
                    recorded_end_utc=info.end_utc,
                    stored_at_utc=now,
                    place=info.place or None,
                    category=None,
                    is_important=info.is_important,
                    size_bytes=result.size_bytes,
                    sha256=result.sha256,
                    source_path=info.path,
                    handover_delay_s=delay.total_seconds(),
                    is_late=is_late,
                )
            )
            journal.append(
                session,
                ClipStored(
                    bay=bay,
                    device=serial,
                    sha256=result.sha256,
                    size_bytes=result.size_bytes,
                    source_path=info.path,
                    recorded_start_utc=info.start_utc,
                    handover_delay_s=delay.total_seconds(),
                    is_late=is_late,
                ),
                actor=ACTOR,
                at=now,
            )
            return True

    def _release(
        self, bay: int, client: RecorderClient, serial: str, path: str, sha256: str
    ) -> None:
        """Free the clip on the recorder, the request journaled before it is sent: a crash
        between the recorder's delete and our confirmation still leaves it on record."""
        policy = self.settings.offload.delete_policy
        request = ClipDeleteRequested(
            bay=bay, device=serial, sha256=sha256, source_path=path, policy=policy
        )
        self._journal(request)
        client.delete_clip(path, bytes.fromhex(sha256))
        self._journal(
            ClipDeletedFromRecorder(
                bay=bay, device=serial, sha256=sha256, source_path=path, policy=policy
            )
        )

    def _may_delete(self, result: CopyResult) -> bool:
        """Only a copy that is in the store, durable and committed frees the recorder's card.

        The recorder checks the hash we send against its own clip before deleting, so a clip
        without a device-side hash is still only deleted when our copy matches it.
        """
        return self.settings.offload.delete_policy == "after_verified_copy" and self.store.has(
            result.sha256
        )

    def _quarantine(self, bay: int, serial: str, path: str, reason: str) -> None:
        """Record a file left on the recorder; its name is kept escaped, as data."""
        now = self.clock.now_utc()
        shown = printable(path)
        with self.db.transaction() as session:
            already = session.scalar(
                select(Quarantined.id).where(
                    Quarantined.device_serial == serial, Quarantined.reason == reason
                )
            )
            if already is not None:
                return  # docking twice does not record the same bad file twice
            session.add(
                Quarantined(
                    device_serial=serial, bay=bay, source_path=shown, reason=reason, at_utc=now
                )
            )
            journal.append(
                session,
                ClipQuarantined(bay=bay, device=serial, source_path=shown, reason=reason),
                actor=ACTOR,
                at=now,
            )

    def _journal(self, happened: Event) -> None:
        with self.db.transaction() as session:
            journal.append(session, happened, actor=ACTOR, at=self.clock.now_utc())

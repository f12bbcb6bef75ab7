"""Taking everything a docked recorder's card holds into the evidence store, then freeing it.

The order is the rule (never edit or delete an original; hand it over within 24 h):
  1. list the clips over the link (sizes, the recorder's own hashes): a cross-check only;
  2. unlock mass storage for this insertion and open the volume read-only;
  3. walk the card and copy each file as the walk yields it (every plain file, listed or
     not, zero-length or oddly named: dock.offload.source.judge_entry): one pass that hashes
     while writing, fsync, compare, place read-only (dock.offload.copy), then the clip's row
     and journal row in one transaction, saying how the copy was verified;
  4. once the walk has ended (late problems such as cross-linked clusters are only known
     then), ask the recorder, by policy, to delete each listed clip verified by its hash or
     its size, the request journaled before it is sent.
A crash between any two steps leaves the clip on the recorder, in the store, or both: never
neither. Docking again repeats the walk; a clip already stored is recognised by its hash and
not copied again; a deletion the dock never heard confirmed is confirmed when the clip is
found gone from the card.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from dock import journal
from dock.bays.machine import ACTOR
from dock.clock import Clock
from dock.config import Settings
from dock.db.database import Database
from dock.events import (
    CardVolumeProblem,
    ClipDeletedFromRecorder,
    ClipDeleteRefused,
    ClipDeleteRequested,
    DiskReserveReached,
    Event,
    OffloadFinished,
    OffloadProgress,
    OffloadStarted,
    StoreObjectDamaged,
    StoreObjectRepaired,
)
from dock.events import VerificationFailed as VerificationFailedEvent
from dock.offload import deferred_delete, records
from dock.offload.card_names import clip_facts
from dock.offload.copy import CopyFailed, CopyResult, ReadableInto, copy_and_hash
from dock.offload.report import OffloadReport
from dock.offload.source import (
    Intake,
    ListedClip,
    Quarantine,
    QuarantineCode,
    Verification,
    judge_entry,
    path_bytes,
    printable,
    raw_path_hex,
    unsafe_name_reason,
)
from dock.offload.store import DiskReserveReached as DiskFull
from dock.offload.store import EvidenceStore
from firmware_bridge.client import ClipInfo, RecorderClient
from firmware_bridge.errors import LinkError, Refused
from hw.mass_storage import MassStorage, MassStorageError
from hw.volumes import VolumeFinder

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 2.0  # journal progress at a bounded rate, not every block
SIZE_ONLY_REASON = "the recorder keeps no hash of its own: size as listed, chain clean"


@dataclass
class _Progress:
    total_clips: int
    total_bytes: int
    done_clips: int = 0
    done_bytes: int = 0
    last_journaled_s: float = float("-inf")


@dataclass(frozen=True)
class _Deletable:
    path: str  # the recorder's own name for it, as listed
    sha256: str


class _Stop(Exception):
    """The store cannot take more: the offload ends cleanly here (the alert is journaled)."""


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
        self._central: Any = None

    def central_store(self) -> Any:
        """The object store a confirmed copy is re-checked in before a delete; built once,
        None when replication is off ([central] endpoint_url "")."""
        if self._central is None and self.settings.central.endpoint_url:
            from dock.replication.central import central_from_settings

            self._central = central_from_settings(self.settings.central)
        return self._central

    def offload(
        self,
        bay: int,
        usb_port_path: str,
        client: RecorderClient,
        serial: str,
        officer_number: str | None,
        clips: Iterable[ClipInfo],
        *,
        confirmed_by: tuple[str, ...] = (),
    ) -> OffloadReport:
        """Take everything on the card of the recorder in `bay`; `clips` is its listing.

        confirmed_by: the two staff who confirmed a two-person offload, in each clip's record.

        Raises LinkError when the recorder stops answering and MassStorageError when its
        volume cannot be opened; everything stored until then stays stored and journaled.
        """
        listing = {c.path: c for c in clips}
        report = OffloadReport()
        with self._slots:
            client.set_mass_storage(True)
            try:
                volume = self.volumes.open_volume(usb_port_path, serial)
                try:
                    _Run(
                        self,
                        bay,
                        client,
                        serial,
                        officer_number,
                        listing,
                        volume,
                        report,
                        confirmed_by=confirmed_by,
                    ).go()
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
        except (Refused, LinkError) as err:
            log.info("bay %d: mass storage not switched off over the link: %s", bay, err)

    def journal_event(self, happened: Event) -> None:
        with self.db.transaction() as session:
            journal.append(session, happened, actor=ACTOR, at=self.clock.now_utc())


class _Run:
    """One offload of one card: the walk, the copies, then the deletions."""

    def __init__(
        self,
        offloader: Offloader,
        bay: int,
        client: RecorderClient,
        serial: str,
        officer_number: str | None,
        listing: dict[str, ClipInfo],
        volume: MassStorage,
        report: OffloadReport,
        *,
        confirmed_by: tuple[str, ...] = (),
    ) -> None:
        self.o = offloader
        self.bay = bay
        self.client = client
        self.serial = serial
        self.officer_number = officer_number
        self.listing = listing
        self.volume = volume
        self.report = report
        total_bytes = sum(c.size_bytes for c in listing.values())
        self.progress = _Progress(len(listing), total_bytes)
        self.seen: set[str] = set()
        # card path -> (sha256, verification) of what was stored from it
        self.stored: dict[str, tuple[str, Verification]] = {}
        self.deletable: list[_Deletable] = []
        self.is_walk_whole = True  # no directory left unread, no budget hit, not stopped
        self.confirmed_by = confirmed_by  # two-person offload: who confirmed it

    def go(self) -> None:
        o, report = self.o, self.report
        o.journal_event(
            OffloadStarted(
                bay=self.bay,
                device=self.serial,
                clip_count=self.progress.total_clips,
                total_bytes=self.progress.total_bytes,
            )
        )
        for problem in self.volume.volume_problems():
            report.problems.append(problem)
            report.card_problems.append(problem)  # the docking verdict names each
            o.journal_event(CardVolumeProblem(bay=self.bay, device=self.serial, problem=problem))
        try:
            for entry in self.volume.walk():
                listed = self.listing.get(entry.path)
                judged = judge_entry(entry, _listed(listed))
                if judged is None:
                    continue
                self.seen.add(entry.path)
                if isinstance(judged, Quarantine):
                    self._quarantine(judged, is_listed=listed is not None)
                else:
                    self._take(judged, listed)
            self._after_walk()  # the walk ran to its end: late problems are known
        except _Stop:
            self.is_walk_whole = False
        if self.is_walk_whole:
            self._confirm_deletions_seen_done()
            self._delete_proven_clips()
        elif not report.stopped:
            report.problems.append(
                "nothing deleted from the recorder: part of its card could not be read"
            )
        o.journal_event(
            OffloadFinished(
                bay=self.bay,
                device=self.serial,
                stored_count=report.stored + report.already_stored,
                quarantined_count=report.quarantined,
                failed_count=report.failed,
            )
        )

    # -- the walk ----------------------------------------------------------------------------

    def _quarantine(self, bad: Quarantine, *, is_listed: bool) -> None:
        report = self.report
        is_unreadable = bad.code is QuarantineCode.UNREADABLE
        if is_unreadable:
            report.unreadable += 1
            self.is_walk_whole = False
        else:
            report.quarantined += 1
            report.listed_quarantined += is_listed
        report.problems.append(bad.reason)
        records.quarantine(
            self.o.db,
            bay=self.bay,
            serial=self.serial,
            source_path=printable(bad.path),
            raw_path=bad.path_hex,
            code=bad.code.value,
            reason=bad.reason,
            now=self.o.clock.now_utc(),
            is_unreadable_dir=is_unreadable,
        )

    def _take(self, intake: Intake, listed: ClipInfo | None) -> None:
        o, report, entry = self.o, self.report, intake.entry
        shown = printable(entry.path)
        if listed is None:
            report.unlisted += 1
            self.progress.total_clips += 1
            self.progress.total_bytes += entry.size_bytes
        try:
            result = self._copy(intake)
        except MassStorageError as err:  # this file's chain or directory is broken
            report.quarantined += 1
            report.listed_quarantined += listed is not None
            report.problems.append(str(err))
            records.quarantine(
                o.db,
                bay=self.bay,
                serial=self.serial,
                source_path=shown,
                raw_path=path_bytes(entry.path).hex(),
                code=QuarantineCode.UNREADABLE.value,
                reason=str(err),
                now=o.clock.now_utc(),
            )
            return
        except DiskFull as err:  # the reserve, or the disk refusing a write: a clean stop
            report.stopped = str(err)
            o.journal_event(
                DiskReserveReached(
                    bay=self.bay,
                    device=self.serial,
                    free_bytes=o.store.free_bytes(),
                    reserve_bytes=o.store.reserve_bytes,
                    reason=str(err),
                )
            )
            raise _Stop from None
        except CopyFailed as err:
            report.failed += 1
            report.problems.append(str(err))
            o.journal_event(
                VerificationFailedEvent(
                    bay=self.bay,
                    device=self.serial,
                    source_path=shown,
                    reason=str(err),
                    expected_sha256=intake.expected_sha256,
                )
            )
            return
        verification, reason = _verification(intake, result)
        if verification is Verification.NOT_VERIFIED:
            report.not_verified += 1
            report.listed_not_verified += listed is not None
            report.problems.append(f"{shown}: copied, not verified ({reason})")
        facts = clip_facts(
            entry,
            listed,
            device_serial=self.serial,
            officer_number=self.officer_number,
            card_utc_offset_min=o.settings.offload.card_utc_offset_min,
        )
        repair = self._repair_events(result, shown)
        is_new = records.record_clip(
            o.db,
            agency=o.settings.dock.agency,
            dock_id=o.settings.dock.dock_id,
            bay=self.bay,
            serial=self.serial,
            officer_number=self.officer_number,
            offload_confirmed_by=self.confirmed_by,
            clip=records.StoredClip(
                sha256=result.sha256,
                size_bytes=result.size_bytes,
                source_path=shown,
                raw_path=raw_path_hex(entry),
                name_encoding=entry.name_encoding,
                is_listed=listed is not None,
                verification=verification,
                verification_reason=reason,
                facts=facts,
                place=(listed.place or None) if listed is not None else None,
                card_created_utc=entry.created_utc,
                card_modified_utc=entry.modified_utc,
            ),
            handover_limit_hours=o.settings.offload.handover_limit_hours,
            retention=o.settings.retention,
            now=o.clock.now_utc(),
            extra_events=repair,
        )
        report.stored += is_new
        report.already_stored += not is_new
        self.stored[entry.path] = (result.sha256, verification)
        is_proven = verification is not Verification.NOT_VERIFIED
        if listed is not None and is_proven and intake.keep_reason is None:
            self.deletable.append(_Deletable(listed.path, result.sha256))

    def _copy(self, intake: Intake) -> CopyResult:
        o, progress = self.o, self.progress
        start_bytes = progress.done_bytes

        def on_progress(done: int) -> None:
            progress.done_bytes = start_bytes + done
            if o.on_bytes is not None:
                o.on_bytes(self.bay, progress.done_bytes, progress.total_bytes)
            self._maybe_journal_progress()

        with self.volume.open(intake.entry) as stream:
            result = copy_and_hash(
                cast(ReadableInto, stream),
                intake.expected_size_bytes,
                o.store,
                expected_sha256=intake.expected_sha256,
                on_progress=on_progress,
                label=f"{self.serial} {printable(intake.entry.path)}",
                may_repair=True,
            )
        progress.done_clips += 1
        progress.done_bytes = start_bytes + intake.expected_size_bytes
        self._maybe_journal_progress()
        return result

    def _repair_events(self, result: CopyResult, shown: str) -> tuple[Event, ...]:
        """A stored object found damaged and replaced by these bytes: two journal rows."""
        if result.damaged_copy is None:
            return ()
        self.report.repaired += 1
        self.report.problems.append(
            f"stored object {result.sha256} was damaged and is repaired from the recorder's "
            f"{shown}; run `dock store verify` to check the rest of the store"
        )
        return (
            StoreObjectDamaged(
                bay=self.bay,
                device=self.serial,
                sha256=result.sha256,
                is_missing=False,
                found_by="offload",
            ),
            StoreObjectRepaired(
                bay=self.bay,
                device=self.serial,
                sha256=result.sha256,
                source_path=shown,
                damaged_copy=str(result.damaged_copy.relative_to(self.o.store.root)),
            ),
        )

    def _maybe_journal_progress(self) -> None:
        progress = self.progress
        now_s = self.o.clock.monotonic_s()
        is_last = progress.done_clips == progress.total_clips
        if now_s - progress.last_journaled_s < PROGRESS_EVERY_S and not is_last:
            return
        progress.last_journaled_s = now_s
        self.o.journal_event(
            OffloadProgress(
                bay=self.bay,
                device=self.serial,
                done_clips=progress.done_clips,
                total_clips=progress.total_clips,
                done_bytes=progress.done_bytes,
                total_bytes=progress.total_bytes,
            )
        )

    # -- after the walk ----------------------------------------------------------------------

    def _after_walk(self) -> None:
        """Late problems (cross-links found on a later file) and listed clips not found."""
        o, report = self.o, self.report
        late = self.volume.late_problems()
        for path, reason in late.items():
            sha256, verification = self.stored.get(path, ("", Verification.NOT_VERIFIED))
            shown = printable(path)
            if sha256 and verification is not Verification.NOT_VERIFIED:
                report.not_verified += 1
                report.listed_not_verified += path in self.listing
                report.problems.append(f"{shown}: copied, not verified ({reason})")
            if not sha256:
                continue
            records.downgrade(
                o.db,
                bay=self.bay,
                serial=self.serial,
                sha256=sha256,
                source_path=shown,
                reason=reason,
                now=o.clock.now_utc(),
            )
        self.deletable = [d for d in self.deletable if d.path not in late]
        missing = [p for p in self.listing if p not in self.seen]
        for path in missing:
            unsafe = unsafe_name_reason(path)
            detail = (
                f"listed with an unsafe name ({unsafe})" if unsafe else "listed but not on the card"
            )
            self._quarantine(
                Quarantine(
                    path,
                    path_bytes(path).hex(),
                    QuarantineCode.MISSING,
                    f"{printable(path)}: {detail}",
                ),
                is_listed=True,
            )

    def _delete_proven_clips(self) -> None:
        """Free the clips the policy allows. Under "after_central_copy" a clip waits for its
        confirmed central copy; one confirmed after the recorder left is still listed at its
        next docking, is already stored, and is freed then by this same path."""
        policy = self.o.settings.offload.delete_policy
        if policy == "never":
            return
        for clip in self.deletable:
            if not self.o.store.has(clip.sha256):
                continue
            if policy == "after_central_copy" and not deferred_delete.is_copy_confirmed(
                self.o.db, clip.sha256, central=self.o.central_store(), now=self.o.clock.now_utc()
            ):
                self.report.waiting_for_copy += 1
                continue
            self._release(clip)

    def _confirm_deletions_seen_done(self) -> None:
        """A request without a confirmation whose clip is gone from the card and the listing,
        its stored object present: the recorder did delete it before the dock died."""
        for pending in records.unconfirmed_deletions(self.o.db, self.serial):
            path = pending.source_path
            if path in self.seen or path in self.listing or not self.o.store.has(pending.sha256):
                continue
            self.report.confirmed_late += 1
            self.o.journal_event(
                ClipDeletedFromRecorder(
                    bay=self.bay,
                    device=self.serial,
                    sha256=pending.sha256,
                    source_path=path,
                    policy=pending.policy,
                    is_confirmed_at_redocking=True,
                )
            )

    def _release(self, clip: _Deletable) -> None:
        """Free the clip on the recorder, the request journaled before it is sent: a crash
        between the recorder's delete and our confirmation still leaves it on record. A
        refusal is the recorder's clear no: journaled, and the other clips go on."""
        o = self.o
        policy = o.settings.offload.delete_policy
        o.journal_event(
            ClipDeleteRequested(
                bay=self.bay,
                device=self.serial,
                sha256=clip.sha256,
                source_path=clip.path,
                policy=policy,
            )
        )
        try:
            self.client.delete_clip(clip.path, bytes.fromhex(clip.sha256))
        except Refused as refusal:
            error = refusal.error_name
            self.report.delete_refused += 1
            self.report.problems.append(
                f"{printable(clip.path)}: stored, but the recorder refused to delete it "
                f"({error}); it stays on the recorder"
            )
            o.journal_event(
                ClipDeleteRefused(
                    bay=self.bay,
                    device=self.serial,
                    sha256=clip.sha256,
                    source_path=clip.path,
                    code=int(refusal.code),
                    error=error,
                    detail=str(refusal.detail or ""),
                )
            )
            return
        o.journal_event(
            ClipDeletedFromRecorder(
                bay=self.bay,
                device=self.serial,
                sha256=clip.sha256,
                source_path=clip.path,
                policy=policy,
            )
        )
        self.report.deleted += 1


def _listed(info: ClipInfo | None) -> ListedClip | None:
    if info is None:
        return None
    return ListedClip(info.path, info.size_bytes, info.sha256.hex() or None)


def _verification(intake: Intake, result: CopyResult) -> tuple[Verification, str]:
    if intake.doubts:
        return Verification.NOT_VERIFIED, "; ".join(intake.doubts)
    if result.is_verified:
        return Verification.DEVICE_HASH, ""
    return Verification.SIZE_ONLY, SIZE_ONLY_REASON

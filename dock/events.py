"""Domain events: what happened at the dock, named in the past tense.

Each event is a frozen dataclass with a stable `type` string (the journal's `type` column,
the MQTT topic suffix, what the LEDs follow: renaming one breaks readers of old journals, so
don't) and a `data()` dict of everything but `bay` and `device`, which have their own journal
columns. Events are built with keywords only, so a reader sees what each value means.

EventBus hands events to listeners after the transaction that journaled them commits
(dock.db.Database.transaction does that), and calls each listener in its own try: one broken
subscriber must not silence the audit log or the lights.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar

log = logging.getLogger(__name__)

EVENT_TYPES: dict[str, type[Event]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    type: ClassVar[str] = ""
    bay: int | None = None
    device: str | None = None  # the recorder's serial

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.type or cls.type in EVENT_TYPES:
            raise TypeError(f"{cls.__name__} needs its own unique event type, got {cls.type!r}")
        EVENT_TYPES[cls.type] = cls

    def data(self) -> dict[str, Any]:
        """The event's own fields as JSON-ready values (ISO UTC times, lists, plain strings)."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in fields(self)
            if f.name not in ("bay", "device")
        }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


# -- docking and the pre-shift check ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RecorderDocked(Event):
    type: ClassVar[str] = "recorder.docked"
    usb_port_path: str


@dataclass(frozen=True, kw_only=True)
class RecorderIdentified(Event):
    type: ClassVar[str] = "recorder.identified"
    model: str
    firmware_version: str
    protocol_version: int
    is_key_proven: bool


@dataclass(frozen=True, kw_only=True)
class CheckCompleted(Event):
    type: ClassVar[str] = "check.completed"
    verdict: str  # "READY" | "NOT READY"
    reasons: tuple[str, ...] = ()  # the officer-facing reason texts
    reason_codes: tuple[str, ...] = ()  # the stable codes (dock.check.Reason.code)


@dataclass(frozen=True, kw_only=True)
class ClockSet(Event):
    type: ClassVar[str] = "recorder.clock_set"
    drift_before_s: float
    drift_after_s: float


@dataclass(frozen=True, kw_only=True)
class RecorderRefused(Event):
    """The recorder answered a request with Error: a clear no over a working link."""

    type: ClassVar[str] = "recorder.refused"
    request: str  # the request's name in PROTOCOL.md, e.g. "SetClock"
    code: int  # the Error reply's code
    error: str  # the code's name
    detail: str  # the recorder's own one line, as data


@dataclass(frozen=True, kw_only=True)
class RecorderClaimRejected(Event):
    """The recorder claimed something the dock will not take in (e.g. 4 billion clips)."""

    type: ClassVar[str] = "recorder.claim_rejected"
    claim: str  # what was claimed, e.g. "clip_count"
    claimed: int
    limit: int


@dataclass(frozen=True, kw_only=True)
class RecorderUndocked(Event):
    type: ClassVar[str] = "recorder.undocked"


@dataclass(frozen=True, kw_only=True)
class BayStateChanged(Event):
    type: ClassVar[str] = "bay.state_changed"
    from_state: str
    to_state: str
    trigger: str
    reason: str = ""


# -- the ledger (台账) -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OfficerRegistered(Event):
    type: ClassVar[str] = "officer.registered"
    officer_number: str
    name: str
    unit_number: str
    unit_name: str


@dataclass(frozen=True, kw_only=True)
class DeviceRegistered(Event):
    type: ClassVar[str] = "device.registered"
    model: str
    firmware_version: str  # never the pairing key: the journal is read by many


@dataclass(frozen=True, kw_only=True)
class DevicePaired(Event):
    type: ClassVar[str] = "device.paired"


@dataclass(frozen=True, kw_only=True)
class DeviceAssigned(Event):
    type: ClassVar[str] = "device.assigned"
    officer_number: str
    previous_officer_number: str | None = None


@dataclass(frozen=True, kw_only=True)
class MaintenanceChanged(Event):
    type: ClassVar[str] = "device.maintenance_changed"
    state: str
    previous_state: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class FirmwareRecorded(Event):
    type: ClassVar[str] = "device.firmware_recorded"
    version: str
    previous_version: str


@dataclass(frozen=True, kw_only=True)
class RecorderIssued(Event):
    type: ClassVar[str] = "recorder.issued"
    officer_number: str


@dataclass(frozen=True, kw_only=True)
class RecorderReturned(Event):
    type: ClassVar[str] = "recorder.returned"
    officer_number: str
    issued_at: datetime


# -- offload ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClipStored(Event):
    type: ClassVar[str] = "clip.stored"
    sha256: str
    size_bytes: int
    source_path: str
    recorded_start_utc: datetime
    handover_delay_s: float
    is_late: bool
    # how the copy was proven, and the card's own evidence of the clip
    verification: str = "size_only"  # "device_hash" | "size_only" | "not_verified"
    verification_reason: str = ""
    raw_path: str = ""  # each name component's raw bytes in hex, '/'-joined
    is_listed: bool = True
    time_source: str = "listing"
    metadata_disagreements: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ClipVerificationDowngraded(Event):
    """A stored clip turned out not to be provable after all (e.g. clusters shared with a
    file found later in the walk): its record now says not_verified, and it stays on the card."""

    type: ClassVar[str] = "clip.verification_downgraded"
    sha256: str
    source_path: str
    verification: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class DirectoryUnreadable(Event):
    """A directory (or the rest of a walk) could not be read; the rest of the card came off."""

    type: ClassVar[str] = "card.directory_unreadable"
    source_path: str
    reason: str
    raw_path: str = ""


@dataclass(frozen=True, kw_only=True)
class CardVolumeProblem(Event):
    """Impossible or inconsistent volume metadata (a backup boot sector that disagrees...)."""

    type: ClassVar[str] = "card.volume_problem"
    problem: str


@dataclass(frozen=True, kw_only=True)
class ClipAlreadyStored(Event):
    type: ClassVar[str] = "clip.already_stored"
    sha256: str
    source_path: str


@dataclass(frozen=True, kw_only=True)
class ClipQuarantined(Event):
    type: ClassVar[str] = "clip.quarantined"
    source_path: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class VerificationFailed(Event):
    type: ClassVar[str] = "clip.verification_failed"
    source_path: str
    reason: str
    expected_sha256: str | None = None
    actual_sha256: str | None = None


@dataclass(frozen=True, kw_only=True)
class ClipDeleteRequested(Event):
    """Committed before the dock asks the recorder to delete: a crash after the recorder
    deleted but before `clip.deleted_from_recorder` commits still leaves the deletion on
    record (a request without that confirmation: check the card at the next docking)."""

    type: ClassVar[str] = "clip.delete_requested"
    sha256: str
    source_path: str
    policy: str


@dataclass(frozen=True, kw_only=True)
class ClipDeletedFromRecorder(Event):
    type: ClassVar[str] = "clip.deleted_from_recorder"
    sha256: str
    source_path: str
    policy: str
    # True: the dock died before confirming; a later docking found the clip gone from the card
    is_confirmed_at_redocking: bool = False


@dataclass(frozen=True, kw_only=True)
class ClipDeleteRefused(Event):
    """The recorder answered DeleteClip with an Error: the clip stays on it, stored here."""

    type: ClassVar[str] = "clip.delete_refused"
    sha256: str
    source_path: str
    code: int  # the recorder's error code
    error: str  # the code's name
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class StoreObjectDamaged(Event):
    """Fixity failure: a stored object is missing or no longer hashes to its name."""

    type: ClassVar[str] = "store.object_damaged"
    sha256: str
    is_missing: bool
    found_by: str  # "offload" | "store verify"


@dataclass(frozen=True, kw_only=True)
class StoreObjectRepaired(Event):
    """A damaged object put back from the recorder that still held it, or from the verified
    central copy (source_path "central:<sha256>"); an alert, like the damage."""

    type: ClassVar[str] = "store.object_repaired"
    sha256: str
    source_path: str
    damaged_copy: str  # where the damaged bytes were kept, under the store's damaged/


@dataclass(frozen=True, kw_only=True)
class StoreObjectChecked(Event):
    """One fixity check of one object (PREMIS "fixity check"): what, outcome, when (the row)."""

    type: ClassVar[str] = "store.object_checked"
    sha256: str
    outcome: str  # "intact" | "damaged" | "missing"
    algorithm: str = "sha256"  # PREMIS messageDigestAlgorithm
    # The clip's officer, so the period report counts checks without a join by hash; rows
    # written before it lack the key (and the report looks the officer up by hash).
    officer_number: str | None = None


@dataclass(frozen=True, kw_only=True)
class StoreVerified(Event):
    type: ClassVar[str] = "store.verified"
    checked_count: int
    problem_count: int
    share: float
    covered_since: datetime | None = None  # every object hashed intact since; None: not yet


@dataclass(frozen=True, kw_only=True)
class DiskReserveReached(Event):
    type: ClassVar[str] = "dock.disk_reserve_reached"
    free_bytes: int
    reserve_bytes: int
    reason: str = ""  # the one line: the reserve, or the disk refusing a write (ENOSPC, EIO)


@dataclass(frozen=True, kw_only=True)
class OffloadStarted(Event):
    type: ClassVar[str] = "offload.started"
    clip_count: int
    total_bytes: int


@dataclass(frozen=True, kw_only=True)
class OffloadProgress(Event):
    type: ClassVar[str] = "offload.progress"
    done_clips: int
    total_clips: int
    done_bytes: int
    total_bytes: int


@dataclass(frozen=True, kw_only=True)
class OffloadFinished(Event):
    type: ClassVar[str] = "offload.finished"
    stored_count: int
    quarantined_count: int
    failed_count: int


# -- interruptions and voice notes (see dock/interruptions/) -----------------------


@dataclass(frozen=True, kw_only=True)
class EventLogRead(Event):
    """A docking read the recorder's event log from `from_cursor`; stored with the new cursor."""

    type: ClassVar[str] = "interruption.events_read"
    from_cursor: int
    next_cursor: int
    count: int
    total: int  # the log's length as the recorder gave it


@dataclass(frozen=True, kw_only=True)
class EventLogShrank(Event):
    """The recorder's log is shorter than the stored cursor (wiped or replaced): not read."""

    type: ClassVar[str] = "interruption.events_log_shrank"
    cursor: int
    total: int


@dataclass(frozen=True, kw_only=True)
class InterruptionOverdue(Event):
    """An alert: an interruption is still unexplained past the configured limit."""

    type: ClassVar[str] = "interruption.overdue"
    key: str
    officer_number: str | None
    start_utc: datetime
    limit_hours: float


@dataclass(frozen=True, kw_only=True)
class ExemptionRecorded(Event):
    """A written work record of a recording legitimately skipped, approved by the unit head."""

    type: ClassVar[str] = "interruption.exemption_recorded"
    exemption_id: int
    category: str
    at_utc: datetime
    place: str
    officer_number: str
    approver: str
    note: str


@dataclass(frozen=True, kw_only=True)
class InterruptionFound(Event):
    """A new interruption in a docked recorder's timeline (keys are stable across dockings)."""

    type: ClassVar[str] = "interruption.found"
    key: str
    officer_number: str | None
    start_utc: datetime
    end_utc: datetime | None  # None: recording did not resume
    reason_code: int
    reason: str
    found: str  # "event_log" | "gap"
    status: str  # "explained_by_voice" | "explained_in_writing" | "unexplained"


@dataclass(frozen=True, kw_only=True)
class InterruptionExplained(Event):
    type: ClassVar[str] = "interruption.explained"
    key: str
    status: str  # "explained_by_voice" | "explained_in_writing"
    approver: str | None = None
    note_sha256: str | None = None
    text: str = ""  # the written explanation's words
    via: str = "dock"  # "recorder" (its VOICE_NOTE clip) or "dock"


@dataclass(frozen=True, kw_only=True)
class VoiceNotesNeeded(Event):
    """The bay asks its officer for spoken notes, oldest first; no keys ends the asking."""

    type: ClassVar[str] = "interruption.notes_needed"
    officer_number: str | None
    keys: tuple[str, ...]
    # One line per key (time, reason, how long, how found) for the journal and the CLI.
    described: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class VoiceNoteStarted(Event):
    type: ClassVar[str] = "interruption.note_started"
    key: str


@dataclass(frozen=True, kw_only=True)
class VoiceNoteRefused(Event):
    type: ClassVar[str] = "interruption.note_refused"
    key: str
    reason: str  # the one line the officer was told


@dataclass(frozen=True, kw_only=True)
class VoiceNoteSkipped(Event):
    type: ClassVar[str] = "interruption.note_skipped"
    key: str


# -- reporting --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class JournalCheckpointSigned(Event):
    """The dock signs its journal's size and head so the registry can anchor them (REPORTING.md)."""

    type: ClassVar[str] = "journal.checkpoint"
    journal_size: int
    head_id: int
    head_hash: str
    signed_at: str  # ISO UTC, exactly as signed
    public_key: str  # hex, raw 32-byte Ed25519
    signature: str  # hex, over firmware_bridge.reporting.checkpoint_bytes(...)


# -- central copy (see dock/replication/) ---------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClipReplicated(Event):
    """The object store answered with this SHA-256 and a COMPLIANCE lock: a counted copy."""

    type: ClassVar[str] = "clip.replicated"
    sha256: str
    key: str  # objects/<sha256>
    checksum: str  # what the store reported: hex, or "<hex>-<parts>" for a multipart object
    retain_until: datetime
    size_bytes: int = 0
    endpoint: str = ""


@dataclass(frozen=True, kw_only=True)
class ReplicationRefused(Event):
    """The store's copy cannot be counted (wrong checksum, no lock, lost, or bad local bytes)."""

    type: ClassVar[str] = "replication.refused"
    sha256: str
    key: str
    reason: str  # "checksum_mismatch" | "lock_missing" | "object_lost" | "local_mismatch"
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class CentralObjectChecked(Event):
    """One fixity check of a central copy, downloaded and re-hashed (PREMIS "fixity check")."""

    type: ClassVar[str] = "central.object_checked"
    sha256: str
    outcome: str  # "intact" | "damaged" | "missing"
    algorithm: str = "sha256"


@dataclass(frozen=True, kw_only=True)
class CentralObjectDamaged(Event):
    """An alert: a confirmed central copy is gone or changed; it no longer counts as a copy."""

    type: ClassVar[str] = "central.object_damaged"
    sha256: str
    is_missing: bool
    detail: str


@dataclass(frozen=True, kw_only=True)
class ReplicationBacklog(Event):
    """More objects than backlog_alert wait for their central copy (journaled once per rise)."""

    type: ClassVar[str] = "replication.backlog"
    waiting: int
    threshold: int
    oldest_queued_utc: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ReplicationBacklogCleared(Event):
    """The backlog fell back to backlog_alert or below: the replication.backlog alert clears."""

    type: ClassVar[str] = "replication.backlog_cleared"
    waiting: int
    threshold: int


@dataclass(frozen=True, kw_only=True)
class ReplicationRetried(Event):
    """A person asked for a refused copy to be tried again (`dock replication retry`)."""

    type: ClassVar[str] = "replication.retried"
    sha256: str
    previous_reason: str


# -- retention, holds, purge, sampling audits -------------------------------------


@dataclass(frozen=True, kw_only=True)
class RetentionComputed(Event):
    """Clips' retention ends set for the first time (one row per batch, not per clip)."""

    type: ClassVar[str] = "retention.computed"
    clip_count: int


@dataclass(frozen=True, kw_only=True)
class RetentionChanged(Event):
    """A clip's case or category changed, and with it its retention end; who is the actor."""

    type: ClassVar[str] = "retention.changed"
    clip_id: int
    case_number: str | None
    category: str | None
    retention_end: datetime | None  # None: kept while its case file is
    rule: str
    why: str


@dataclass(frozen=True, kw_only=True)
class CaseRetentionSet(Event):
    type: ClassVar[str] = "retention.case_set"
    case_number: str
    retain_until: datetime | None  # None: the case file is open, kept without end
    why: str


@dataclass(frozen=True, kw_only=True)
class HoldPlaced(Event):
    type: ClassVar[str] = "hold.placed"
    hold_id: int
    clip_id: int | None
    case_number: str | None
    kind: str  # dock.retention.holds.HoldKind
    note: str


@dataclass(frozen=True, kw_only=True)
class HoldLifted(Event):
    type: ClassVar[str] = "hold.lifted"
    hold_id: int
    approved_by: str
    why: str


@dataclass(frozen=True, kw_only=True)
class HoldMirrored(Event):
    """The central copy's S3 legal hold and COMPLIANCE retain-until now match the dock's."""

    type: ClassVar[str] = "hold.mirrored"
    sha256: str
    is_legal_hold: bool
    retain_until: datetime | None


@dataclass(frozen=True, kw_only=True)
class HoldMirrorPending(Event):
    """The central copy could not be told of a clip's hold or retention end yet (the store
    is down or refused); the replicator retries every pass until hold.mirrored follows."""

    type: ClassVar[str] = "hold.mirror_pending"
    sha256: str
    clip_id: int
    error: str


@dataclass(frozen=True, kw_only=True)
class ClipPurged(Event):
    """An expired clip's object left the store (kept aside until undo_until)."""

    type: ClassVar[str] = "clip.purged"
    clip_id: int
    sha256: str
    rule: str
    approved_by: str
    undo_until: datetime


@dataclass(frozen=True, kw_only=True)
class PurgeUndone(Event):
    type: ClassVar[str] = "clip.purge_undone"
    clip_id: int
    sha256: str
    why: str


@dataclass(frozen=True, kw_only=True)
class PurgeFinalized(Event):
    """The undo window closed: the object kept aside is removed for good."""

    type: ClassVar[str] = "clip.purge_finalized"
    clip_id: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class SampleDrawn(Event):
    type: ClassVar[str] = "audit.sample_drawn"
    sample_id: int
    period_start: datetime
    period_end: datetime
    seed: int
    share: float
    clip_count: int


@dataclass(frozen=True, kw_only=True)
class SampleScored(Event):
    type: ClassVar[str] = "audit.sample_scored"
    sample_id: int
    clip_id: int
    passed: tuple[str, ...]
    failed: tuple[str, ...]
    comment: str


@dataclass(frozen=True, kw_only=True)
class SampleRescored(Event):
    """An auditor scored a clip of a sample again: this score replaces their earlier one
    (`replaces`, that score's journal row) in the period report; comment says why."""

    type: ClassVar[str] = "audit.sample_rescored"
    sample_id: int
    clip_id: int
    passed: tuple[str, ...]
    failed: tuple[str, ...]
    comment: str
    replaces: int


# -- people, requests and approvals ---------------------------------------------------
# The journal's actor column names who acted ("staff:<username>"); these rows say what and why.


@dataclass(frozen=True, kw_only=True)
class StaffAdded(Event):
    type: ClassVar[str] = "staff.added"
    username: str
    display_name: str
    roles: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class StaffSignedIn(Event):
    type: ClassVar[str] = "staff.signed_in"
    username: str


@dataclass(frozen=True, kw_only=True)
class StaffSignInFailed(Event):
    type: ClassVar[str] = "staff.sign_in_failed"
    username: str
    failures: int  # in a row, this one included
    locked_until_utc: datetime | None = None  # set when this failure locked the account


@dataclass(frozen=True, kw_only=True)
class RequestStepTaken(Event):
    """One step of a request: requested, reviewed, approved, refused, carried_out, confirmed."""

    type: ClassVar[str] = "request.step"
    request_id: int
    kind: str  # "view" | "copy" | "export"
    step: str
    by: str
    reason: str = ""  # the requester's reason, or the reviewer's or approver's note
    clip_id: int | None = None
    case_number: str | None = None
    marks_named: tuple[str, ...] = ()
    expires_at_utc: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ClipViewed(Event):
    """A viewing register row (000 art.12): who, reason, clip, approval; the row's time is when."""

    type: ClassVar[str] = "clip.viewed"
    clip_id: int
    username: str
    reason: str
    request_id: int


@dataclass(frozen=True, kw_only=True)
class ClipClassified(Event):
    type: ClassVar[str] = "clip.classified"
    clip_id: int
    changes: dict[str, str | None]  # field -> new value


@dataclass(frozen=True, kw_only=True)
class ConfidentialityMarked(Event):
    type: ClassVar[str] = "clip.marked"
    mark: str
    clip_id: int | None = None
    case_number: str | None = None
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class OffloadConfirmed(Event):
    """A person at the dock confirmed a waiting two-person offload (003 art.21)."""

    type: ClassVar[str] = "offload.confirmed"
    username: str
    confirmed_by: tuple[str, ...]  # everyone so far, this person included


@dataclass(frozen=True, kw_only=True)
class OffloadAwaitingConfirmation(Event):
    """Two-person offload: the recorder's storage stays locked until two staff confirm."""

    type: ClassVar[str] = "offload.awaiting_confirmation"
    needed: int


@dataclass(frozen=True, kw_only=True)
class OffloadNotConfirmed(Event):
    """The recorder left (or the dock gave up) while waiting: nothing was offloaded."""

    type: ClassVar[str] = "offload.not_confirmed"
    confirmed_by: tuple[str, ...]  # who had confirmed before it left


# -- evidence discs (see dock/export/) ---------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ExportWritten(Event):
    """Two labelled disc images of approved clips, each image named by its SHA-256."""

    type: ClassVar[str] = "export.written"
    approval_id: str
    case: str
    maker: str
    extractor: str
    confirmers: tuple[str, ...]
    clip_sha256s: tuple[str, ...]
    image_names: tuple[str, ...]
    image_sha256s: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ExportVerified(Event):
    """`dock export verify` read a whole image: intact, or how many problems it found."""

    type: ClassVar[str] = "export.verified"
    image_name: str
    image_sha256: str
    is_intact: bool
    problems: tuple[str, ...] = ()


# -- technician reflash -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FirmwareImageStaged(Event):
    type: ClassVar[str] = "reflash.image_staged"
    model: str
    version: str
    image_sha256: str  # hex, of the payload
    staged_by: str


@dataclass(frozen=True, kw_only=True)
class FirmwareImageRefused(Event):
    """An image the dock would not stage: no trusted key signed it, or it was changed."""

    type: ClassVar[str] = "reflash.image_refused"
    file_sha256: str  # hex, of the whole file offered
    refused_by: str  # who offered it
    reason: str


@dataclass(frozen=True, kw_only=True)
class FirmwareImageRemoved(Event):
    type: ClassVar[str] = "reflash.image_removed"
    model: str
    version: str
    image_sha256: str
    removed_by: str


@dataclass(frozen=True, kw_only=True)
class FirmwareBatchStarted(Event):
    """A technician's update of every docked recorder (dock.reflash.batch)."""

    type: ClassVar[str] = "reflash.batch_started"
    technician: str
    model: str  # "" for every model
    version: str  # "" for the newest staged image of each model
    bays: tuple[int, ...]  # the bays holding a recorder, in the order they are taken


@dataclass(frozen=True, kw_only=True)
class FirmwareBatchResult(Event):
    type: ClassVar[str] = "reflash.batch_result"
    from_version: str
    to_version: str  # "" when no image was chosen
    outcome: str  # succeeded, refused, failed or skipped
    reason: str


@dataclass(frozen=True, kw_only=True)
class FirmwareBatchFinished(Event):
    type: ClassVar[str] = "reflash.batch_finished"
    succeeded: int
    refused: int
    failed: int
    skipped: int


@dataclass(frozen=True, kw_only=True)
class ReflashDowngradeApproved(Event):
    type: ClassVar[str] = "reflash.downgrade_approved"
    from_version: str
    to_version: str
    forced_by: str  # the technician who asked for it
    approved_by: str  # the second person


@dataclass(frozen=True, kw_only=True)
class ReflashStarted(Event):
    type: ClassVar[str] = "reflash.started"
    technician: str
    from_version: str
    to_version: str
    image_sha256: str
    resumed_from_bytes: int  # 0 for a new transfer


@dataclass(frozen=True, kw_only=True)
class ReflashProgress(Event):
    type: ClassVar[str] = "reflash.progress"
    done_bytes: int
    total_bytes: int


@dataclass(frozen=True, kw_only=True)
class ReflashStopped(Event):
    type: ClassVar[str] = "reflash.stopped"
    to_version: str
    reason: str  # one line: what was refused or lost, and what to do
    done_bytes: int  # what the recorder holds: a new try resumes from there


@dataclass(frozen=True, kw_only=True)
class ReflashFinished(Event):
    type: ClassVar[str] = "reflash.finished"
    to_version: str
    running_version: str
    result: str  # "confirmed" or "rolled back"


@dataclass(frozen=True, kw_only=True)
class TechnicianModeAsked(Event):
    """A long press (the bay's button or the technician button): the bay waits for a
    technician's credential (dock.technician)."""

    type: ClassVar[str] = "technician.mode_asked"


@dataclass(frozen=True, kw_only=True)
class TechnicianModeEntered(Event):
    """A technician signed in for this bay (`dock technician enter`): a reflash needs no other."""

    type: ClassVar[str] = "technician.mode_entered"
    username: str


@dataclass(frozen=True, kw_only=True)
class TechnicianModeLeft(Event):
    type: ClassVar[str] = "technician.mode_left"
    reason: str


# -- the bus ----------------------------------------------------------------------------------

Listener = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out to listeners, each isolated from the others' failures."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns the function that removes it again."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, happened: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(happened)
            except Exception:
                # A failing listener is a bug in it: log the traceback, keep the others going.
                log.exception("event listener %r failed on %s", listener, happened.type)

"""The dock's tables, as SQLAlchemy 2 typed models.

Kept to what PostgreSQL also runs (the central registry uses it): no SQLite-only SQL here.
Serials and officer numbers in evidence rows (clips, quarantine, journal) are plain text, not
foreign keys, on purpose: an evidence record must outlive and never depend on a ledger row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from dock.db.types import UtcDateTime

MAINTENANCE_STATES = ("in_service", "under_repair", "retired")


class Base(DeclarativeBase):
    pass


class Officer(Base):
    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    officer_number: Mapped[str] = mapped_column(String(32), unique=True)  # 警号
    name: Mapped[str] = mapped_column(String(100))
    unit_number: Mapped[str] = mapped_column(String(64))
    unit_name: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Device(Base):
    """A recorder in the ledger (台账).

    pairing_key is a secret stored at rest in the dock's database: whoever reads the file can
    command the recorder. The database lives in the service's private data_dir (mode 0700);
    a later issue may move the key to a keyring or a TPM.
    """

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str] = mapped_column(String(100))
    firmware_version: Mapped[str] = mapped_column(String(64))
    pairing_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    is_paired: Mapped[bool] = mapped_column(Boolean, default=False)
    maintenance_state: Mapped[str] = mapped_column(String(16), default="in_service")
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Assignment(Base):
    """Which officer a device belongs to, from when to when (open: assigned_to is None)."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    assigned_from: Mapped[datetime] = mapped_column(UtcDateTime)
    assigned_to: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    device: Mapped[Device] = relationship()
    officer: Mapped[Officer] = relationship()


class Custody(Base):
    """One issue of a recorder to an officer, and its return (open: returned_at is None)."""

    __tablename__ = "custody"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    bay: Mapped[int] = mapped_column(Integer)  # the bay it was taken from
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    return_bay: Mapped[int | None] = mapped_column(Integer, nullable=True)

    device: Mapped[Device] = relationship()
    officer: Mapped[Officer] = relationship()


class FirmwareSeen(Base):
    __tablename__ = "firmware_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Bay(Base):
    """The persisted state of one bay; `state` holds a dock.bays.states.BayState value."""

    __tablename__ = "bays"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    device_serial: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Clip(Base):
    """One stored clip with the classification the rules ask for (000 art.8, 001 art.9).

    case_name and party stay empty until a custodian fills them in. sha256 is unique: the
    same clip offered twice is recognised, never stored twice.
    """

    __tablename__ = "clips"
    # One per listing (migration 0003): the filter, then the order, so a page reads its rows.
    __table_args__ = (
        Index("ix_clips_stored", "stored_at_utc", "id"),
        Index("ix_clips_recorded", "recorded_start_utc", "id"),
        Index("ix_clips_device_stored", "device_serial", "stored_at_utc", "id"),
        Index("ix_clips_officer_stored", "officer_number", "stored_at_utc", "id"),
        Index("ix_clips_late_stored", "is_late", "stored_at_utc", "id"),
        Index("ix_clips_verification_stored", "verification", "stored_at_utc", "id"),
        # Migration 0005: `dock compliance` counts a period's clips from the index alone.
        Index("ix_clips_recorded_officer_late", "recorded_start_utc", "officer_number", "is_late"),
        # Migration 0007: classification search, one per field, then the time range's order.
        Index("ix_clips_case_name_recorded", "case_name", "recorded_start_utc", "id"),
        Index("ix_clips_case_number_recorded", "case_number", "recorded_start_utc", "id"),
        Index("ix_clips_party_recorded", "party", "recorded_start_utc", "id"),
        Index("ix_clips_enforcement_recorded", "enforcement_type", "recorded_start_utc", "id"),
        Index("ix_clips_category_recorded", "category", "recorded_start_utc", "id"),
        Index("ix_clips_place_recorded", "place", "recorded_start_utc", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency: Mapped[str] = mapped_column(String(200))
    dock_id: Mapped[str] = mapped_column(String(64))
    bay: Mapped[int] = mapped_column(Integer)
    device_serial: Mapped[str] = mapped_column(String(64), index=True)
    officer_number: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    recorded_start_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_end_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    stored_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    place: Mapped[str | None] = mapped_column(Text, nullable=True)
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    is_important: Mapped[bool] = mapped_column(Boolean, default=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source_path: Mapped[str] = mapped_column(Text)
    handover_delay_s: Mapped[float] = mapped_column(Float)
    is_late: Mapped[bool] = mapped_column(Boolean, default=False)
    late_justification: Mapped[str | None] = mapped_column(Text, nullable=True)
    case_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    party: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Migration 0007: set by a custodian with case_name and party.
    case_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enforcement_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Two-person offload (003 art.21): the two staff who confirmed it, comma-joined; "" = auto.
    offload_confirmed_by: Mapped[str] = mapped_column(Text, default="")
    # How the copy was proven (dock.offload.fixity.Verification): "device_hash",
    # "size_only" or "not_verified"; the reason says why a clip is not verified.
    verification: Mapped[str] = mapped_column(String(16), default="size_only", index=True)
    verification_reason: Mapped[str] = mapped_column(Text, default="")
    # The card's own evidence of the name: each component's raw bytes in hex, '/'-joined
    # (hex holds no '/'), and how they decode; source_path is only the display form.
    raw_path: Mapped[str] = mapped_column(Text, default="")
    name_encoding: Mapped[str] = mapped_column(String(16), default="")
    is_listed: Mapped[bool] = mapped_column(Boolean, default=True)  # in the recorder's listing
    card_created_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    card_modified_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Where recorded_start/end came from: "listing", "card_name", "card_times" or "none".
    time_source: Mapped[str] = mapped_column(String(16), default="listing")
    metadata_disagreements: Mapped[str] = mapped_column(Text, default="")  # "; "-joined lines
    last_fixity_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Quarantined(Base):
    """A file on a recorder that was not taken in, and why.

    source_path is text for display only (a non-UTF-8 name is stored escaped by the caller);
    it is never used as a path.
    """

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_serial: Mapped[str] = mapped_column(String(64), index=True)
    bay: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source_path: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    raw_path: Mapped[str] = mapped_column(Text, default="")  # as Clip.raw_path
    code: Mapped[str] = mapped_column(String(32), default="")  # dock.offload.source.QuarantineCode


class JournalRow(Base):
    """One append-only, hash-chained journal entry; see dock.journal for the rules.

    id is assigned by the journal (last id + 1), not by the database, because it is part of
    the hashed contents and must be known before the row is written.
    """

    __tablename__ = "journal"
    # Migration 0009: rows of one type over a period (the period report, fixity figures).
    __table_args__ = (Index("ix_journal_type_at", "type", "at_utc"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    type: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    bay: Mapped[int | None] = mapped_column(Integer, nullable=True)
    device: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    data: Mapped[str] = mapped_column(Text)  # canonical JSON
    # Unique: two writers that read the same head cannot both commit a row after it.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class JournalCheckpoint(Base):
    """A `dock audit verify` that found the chain intact up to row_id (whose hash is row_hash).

    The next verify starts after it, so a daily check costs only what was added; `--full`
    ignores it. first_checked_id is None when that verify found nothing new to check.
    """

    __tablename__ = "journal_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    row_id: Mapped[int] = mapped_column(Integer)
    row_hash: Mapped[str] = mapped_column(String(64))
    first_checked_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rows_checked: Mapped[int] = mapped_column(Integer)
    is_full: Mapped[bool] = mapped_column(Boolean)
    verified_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)


# -- interruptions (migration 0004) ---------------------------------------------------


class EventCursor(Base):
    """Where the next ReadEvents of a recorder starts: saved with the events it read."""

    __tablename__ = "recorder_event_cursors"

    device_serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_cursor: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)  # the log's length the recorder last gave
    read_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)


class RecorderEventRow(Base):
    """One entry of a recorder's own event log, as read; clip_path is the card's name (data)."""

    __tablename__ = "recorder_events"
    __table_args__ = (Index("ux_recorder_events", "device_serial", "log_index", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_serial: Mapped[str] = mapped_column(String(64))
    log_index: Mapped[int] = mapped_column(Integer)
    utc_s: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[int] = mapped_column(Integer)
    reason: Mapped[int] = mapped_column(Integer)
    clip_path: Mapped[str] = mapped_column(Text, default="")
    read_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)


class InterruptionRow(Base):
    """An interruption as last built from the timeline, and how it was explained.

    explained_via says who explained it: "recorder" (a VOICE_NOTE clip), "dock" (a note
    recorded or attached at the dock, or a written explanation), or "" while unexplained;
    only the dock's own explanations are fed back into the next timeline.
    """

    __tablename__ = "interruptions"
    __table_args__ = (
        Index("ix_interruptions_officer_start", "officer_number", "start_utc"),
        Index("ix_interruptions_device_start", "device_serial", "start_utc"),
        Index("ix_interruptions_status_start", "status", "start_utc"),
    )

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    device_serial: Mapped[str] = mapped_column(String(64))
    officer_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    start_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    end_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reason_code: Mapped[int] = mapped_column(Integer)
    found: Mapped[str] = mapped_column(String(16))  # dock.interruptions.timeline.Found
    status: Mapped[str] = mapped_column(String(24))  # dock.interruptions.timeline.Status
    explained_via: Mapped[str] = mapped_column(String(16), default="")
    approver: Mapped[str | None] = mapped_column(String(100), nullable=True)
    explanation: Mapped[str] = mapped_column(Text, default="")  # the written words
    note_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    found_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    explained_at_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    overdue_alerted_at_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ExemptionRow(Base):
    """The written work record of a recording legitimately skipped (category: ExemptionCategory)."""

    __tablename__ = "exemptions"
    __table_args__ = (Index("ix_exemptions_officer_at", "officer_number", "at_utc"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    place: Mapped[str] = mapped_column(Text)
    officer_number: Mapped[str] = mapped_column(String(32))
    approver: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)


class Replica(Base):
    """A clip's central copy: queued, half uploaded, confirmed or refused.

    A row with confirmed_at_utc set is the dock's proof that the object store answered with
    this SHA-256 and a COMPLIANCE lock until retain_until; nothing else counts as a copy.
    upload_id and done_parts (JSON [[part, base64 SHA-256], ...]) let a restart continue
    the same multipart upload instead of starting over.
    """

    __tablename__ = "replicas"
    __table_args__ = (Index("ix_replicas_confirmed", "confirmed_at_utc"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    queued_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    checksum: Mapped[str] = mapped_column(String(80), default="")  # as the store reported it
    retain_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    upload_id: Mapped[str] = mapped_column(Text, default="")
    part_size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    done_parts: Mapped[str] = mapped_column(Text, default="[]")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set when the store's copy could not be counted (wrong checksum, no lock, local bytes
    # not matching the name); such a row is retried only after a person looks at it.
    refused_reason: Mapped[str] = mapped_column(Text, default="")


# Tables declared beside the code that owns them, imported here so that Base.metadata (what
# the migrations are checked against) holds every table.
from dock.people import models as _people_models  # noqa: E402, F401
from dock.retention import models as _retention_models  # noqa: E402, F401

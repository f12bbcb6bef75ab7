"""The retention tables: retention ends, case files, holds and their pending mirrors,
tombstones, sampling audits.

Clip ids and usernames are plain integers and text, not foreign keys, as in the clip rows:
a tombstone must outlive everything, and say who approved even after their account goes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dock.db.models import Base
from dock.db.types import UtcDateTime


class CaseFile(Base):
    """A case's retention: its footage is kept as long as the file (None: open, no end)."""

    __tablename__ = "retention_cases"

    case_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    retain_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    set_by: Mapped[str] = mapped_column(String(100))
    set_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)


class ClipRetention(Base):
    """A clip's computed retention end and the rule that set it (the longest period wins).

    No case link of its own: the clip's case is clips.case_number, set by classification,
    so the end and the purge read the one link a custodian sees and sets.
    """

    __tablename__ = "clip_retention"
    __table_args__ = (Index("ix_clip_retention_end", "retention_end", "clip_id"),)

    clip_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    retention_end: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    rule: Mapped[str] = mapped_column(Text)
    computed_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)


class Hold(Base):
    """A long-term hold on one clip or one case; active while lifted_at_utc is None."""

    __tablename__ = "holds"
    __table_args__ = (
        Index("ix_holds_clip", "clip_id", "lifted_at_utc"),
        Index("ix_holds_case", "case_number", "lifted_at_utc"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    case_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    placed_by: Mapped[str] = mapped_column(String(100))
    placed_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    lift_request_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # requests.id
    lifted_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lift_approved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lifted_at_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PendingMirror(Base):
    """A clip whose central copy must follow its hold or retention end, until the store has
    answered: a mirror that failed (the store down) is retried, never forgotten."""

    __tablename__ = "pending_mirrors"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    clip_id: Mapped[int] = mapped_column(Integer)
    since_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Tombstone(Base):
    """What a purge removed, when, under which rule, approved by whom; the clip row stays."""

    __tablename__ = "tombstones"
    __table_args__ = (Index("ix_tombstones_undo", "finalized_at_utc", "undo_until"),)

    clip_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    removed_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    rule: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(100))
    approved_by: Mapped[str] = mapped_column(String(100))
    undo_until: Mapped[datetime] = mapped_column(UtcDateTime)
    finalized_at_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuditSample(Base):
    """One drawn sample: its period, share and seed (so anyone can draw it again)."""

    __tablename__ = "audit_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UtcDateTime)
    period_end: Mapped[datetime] = mapped_column(UtcDateTime)
    seed: Mapped[int] = mapped_column(BigInteger)
    share: Mapped[str] = mapped_column(String(32))  # repr of the float, exactly as drawn
    drawn_by: Mapped[str] = mapped_column(String(100))
    drawn_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditSampleClip(Base):
    __tablename__ = "audit_sample_clips"

    sample_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    clip_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class AuditScore(Base):
    """One auditor's answer to one checklist item for one sampled clip.

    entry_id is the journal row of the score (or rescore) that wrote it, shared by the
    rows of one scoring: an auditor's scoring of a clip with the highest one is the one
    that counts (migration 0012; None only for a row the journal does not know).
    """

    __tablename__ = "audit_scores"
    __table_args__ = (Index("ix_audit_scores_clip", "clip_id", "sample_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[int] = mapped_column(Integer)
    clip_id: Mapped[int] = mapped_column(Integer)
    item: Mapped[str] = mapped_column(Text)
    is_passed: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    auditor: Mapped[str] = mapped_column(String(100))
    at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

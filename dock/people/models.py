"""The people tables: staff, requests and their steps, the viewing register, marks.

Usernames in requests and registers are plain text, not foreign keys, as in the clip rows:
a record of who approved or viewed must outlive the account that did it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dock.db.models import Base
from dock.db.types import UtcDateTime


class Staff(Base):
    """A member of staff who signs in; roles is a comma-joined list of dock.people.Role."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    roles: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, the PHC string
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)


class Request(Base):
    """A request to view, copy or export one clip or one case, and where its steps stand.

    state: requested -> reviewed -> approved | refused -> carried_out (each move a journal
    row). An approval holds for expires_at_utc and this purpose only.
    """

    __tablename__ = "requests"
    __table_args__ = (Index("ix_requests_state_kind", "state", "kind", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    clip_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    case_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    marks_named: Mapped[str] = mapped_column(Text, default="")  # the leader's named marks
    expires_at_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    carried_out_at_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Confirmation(Base):
    """One person's confirmation of an approved export, at the dock."""

    __tablename__ = "request_confirmations"
    __table_args__ = (Index("ux_confirmations", "request_id", "username", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    username: Mapped[str] = mapped_column(String(64))
    at_utc: Mapped[datetime] = mapped_column(UtcDateTime)


class Viewing(Base):
    """The viewing register (000 art.12, 003 art.24): who viewed which clip, why, when, on what."""

    __tablename__ = "viewings"
    __table_args__ = (Index("ix_viewings_clip_at", "clip_id", "at_utc"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    clip_id: Mapped[int] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    at_utc: Mapped[datetime] = mapped_column(UtcDateTime)


class Mark(Base):
    """A confidentiality mark on one clip or on every clip of a case."""

    __tablename__ = "confidentiality_marks"
    __table_args__ = (
        Index("ix_marks_clip", "clip_id"),
        Index("ix_marks_case", "case_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    case_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mark: Mapped[str] = mapped_column(String(32))
    set_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    set_at_utc: Mapped[datetime] = mapped_column(UtcDateTime)


class OffloadConfirmation(Base):
    """A person at the dock confirming a waiting two-person offload (003 art.21)."""

    __tablename__ = "offload_confirmations"
    __table_args__ = (Index("ix_offload_confirmations_bay", "bay", "device_serial", "is_used"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bay: Mapped[int] = mapped_column(Integer)
    device_serial: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64))
    at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    is_used: Mapped[bool] = mapped_column(Boolean, default=False)

"""The registry's tables: what every dock reported, its chain as verified here, and alerts.

Rows are evidence: a row that arrives again with a different hash is stored beside the held
one (`is_conflict`), never over it. One schema for PostgreSQL (production) and SQLite (a
small site); times are aware UTC through dock.db.types.UtcDateTime.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dock.db.types import UtcDateTime


class Base(DeclarativeBase):
    pass


class Dock(Base):
    """One dock; its row is also the per-dock lock the chain check takes (FOR UPDATE)."""

    __tablename__ = "docks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[str | None] = mapped_column(String(64))
    public_key_source: Mapped[str | None] = mapped_column(String(16))  # config | first_use
    availability: Mapped[str | None] = mapped_column(String(16))
    availability_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status_json: Mapped[dict | None] = mapped_column(JSON)  # type: ignore[type-arg]
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    verified_head_id: Mapped[int] = mapped_column(Integer, default=0)
    verified_head_hash: Mapped[str | None] = mapped_column(String(64))
    last_checkpoint_size: Mapped[int | None] = mapped_column(Integer)
    last_checkpoint_head_id: Mapped[int | None] = mapped_column(Integer)
    last_checkpoint_head_hash: Mapped[str | None] = mapped_column(String(64))
    last_checkpoint_signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_row_received_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Row(Base):
    """A journal row as the dock published it; (dock_id, row_id) unique among held rows."""

    __tablename__ = "rows"
    __table_args__ = (
        UniqueConstraint("dock_id", "row_id", "conflict_no", name="uq_rows_dock_row"),
        Index("ix_rows_dock_type", "dock_id", "type"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dock_id: Mapped[str] = mapped_column(ForeignKey("docks.id"), index=True)
    row_id: Mapped[int] = mapped_column(Integer)
    # 0 for the row first held; 1, 2... for later, DIFFERENT versions kept as evidence.
    conflict_no: Mapped[int] = mapped_column(Integer, default=0)
    at_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    type: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    bay: Mapped[int | None] = mapped_column(Integer)
    device: Mapped[str | None] = mapped_column(String(64))
    data_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    chain_ok: Mapped[bool | None] = mapped_column(Boolean)  # None: not yet reached by the head


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dock_id: Mapped[str] = mapped_column(ForeignKey("docks.id"), index=True)
    row_id: Mapped[int] = mapped_column(Integer)
    journal_size: Mapped[int] = mapped_column(Integer)
    head_id: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    signature_ok: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BayStatus(Base):
    __tablename__ = "bays"

    dock_id: Mapped[str] = mapped_column(ForeignKey("docks.id"), primary_key=True)
    bay: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class Device(Base):
    __tablename__ = "devices"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    dock_id: Mapped[str | None] = mapped_column(ForeignKey("docks.id"))
    last_verdict: Mapped[str | None] = mapped_column(String(16))  # ready | not_ready
    last_reasons: Mapped[list | None] = mapped_column(JSON)  # type: ignore[type-arg]
    battery_pct: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Alert(Base):
    """Something a supervisor must see; `subject` makes it idempotent per dock and kind."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("dock_id", "kind", "subject", name="uq_alerts_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dock_id: Mapped[str] = mapped_column(ForeignKey("docks.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(256))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

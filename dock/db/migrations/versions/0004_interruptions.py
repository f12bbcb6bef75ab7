"""Recorders' event logs with their read cursors, interruptions, and exemption records.

Each docking reads the recorder's event log from where the last one stopped, so
the cursor is stored in the same transaction as the events it read (a crash between the
two would re-read or lose events). Interruptions are kept with how each was explained, so
the CLI lists them by officer, device or status, and the next timeline keeps explanations
given at the dock. Exemptions are the written work records of recordings legitimately
skipped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recorder_event_cursors",
        sa.Column("device_serial", sa.String(64), primary_key=True),
        sa.Column("next_cursor", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("read_at_utc", UTC_TIME, nullable=False),
    )
    op.create_table(
        "recorder_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_serial", sa.String(64), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("utc_s", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Integer(), nullable=False),
        sa.Column("clip_path", sa.Text(), nullable=False),
        sa.Column("read_at_utc", UTC_TIME, nullable=False),
    )
    op.create_index(
        "ux_recorder_events", "recorder_events", ["device_serial", "log_index"], unique=True
    )
    op.create_table(
        "interruptions",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("device_serial", sa.String(64), nullable=False),
        sa.Column("officer_number", sa.String(32), nullable=True),
        sa.Column("start_utc", UTC_TIME, nullable=False),
        sa.Column("end_utc", UTC_TIME, nullable=True),
        sa.Column("reason_code", sa.Integer(), nullable=False),
        sa.Column("found", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("explained_via", sa.String(16), nullable=False),
        sa.Column("approver", sa.String(100), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("note_sha256", sa.String(64), nullable=True),
        sa.Column("found_at_utc", UTC_TIME, nullable=False),
        sa.Column("explained_at_utc", UTC_TIME, nullable=True),
        sa.Column("overdue_alerted_at_utc", UTC_TIME, nullable=True),
    )
    op.create_index(
        "ix_interruptions_officer_start", "interruptions", ["officer_number", "start_utc"]
    )
    op.create_index(
        "ix_interruptions_device_start", "interruptions", ["device_serial", "start_utc"]
    )
    op.create_index("ix_interruptions_status_start", "interruptions", ["status", "start_utc"])
    op.create_table(
        "exemptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("at_utc", UTC_TIME, nullable=False),
        sa.Column("place", sa.Text(), nullable=False),
        sa.Column("officer_number", sa.String(32), nullable=False),
        sa.Column("approver", sa.String(100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at_utc", UTC_TIME, nullable=False),
    )
    op.create_index("ix_exemptions_officer_at", "exemptions", ["officer_number", "at_utc"])


def downgrade() -> None:
    op.drop_table("exemptions")
    op.drop_table("interruptions")
    op.drop_table("recorder_events")
    op.drop_table("recorder_event_cursors")

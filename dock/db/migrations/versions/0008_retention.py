"""Retention ends, case files, holds, purge tombstones and sampling audits.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

UTC_TIME = sa.DateTime(timezone=True)

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_cases",
        sa.Column("case_number", sa.String(64), primary_key=True),
        sa.Column("retain_until", UTC_TIME, nullable=True),
        sa.Column("set_by", sa.String(100), nullable=False),
        sa.Column("set_at_utc", UTC_TIME, nullable=False),
    )
    op.create_table(
        "clip_retention",
        sa.Column("clip_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("case_number", sa.String(64), nullable=True),
        sa.Column("retention_end", UTC_TIME, nullable=True),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("computed_at_utc", UTC_TIME, nullable=False),
    )
    op.create_index("ix_clip_retention_end", "clip_retention", ["retention_end", "clip_id"])
    op.create_index("ix_clip_retention_case_number", "clip_retention", ["case_number"])
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("clip_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(100), nullable=False),
        sa.Column("placed_at_utc", UTC_TIME, nullable=False),
        sa.Column("lifted_by", sa.String(100), nullable=True),
        sa.Column("lift_approved_by", sa.String(100), nullable=True),
        sa.Column("lifted_at_utc", UTC_TIME, nullable=True),
    )
    op.create_index("ix_holds_clip", "holds", ["clip_id", "lifted_at_utc"])
    op.create_index("ix_holds_case", "holds", ["case_number", "lifted_at_utc"])
    op.create_table(
        "tombstones",
        sa.Column("clip_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("removed_at_utc", UTC_TIME, nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("approved_by", sa.String(100), nullable=False),
        sa.Column("undo_until", UTC_TIME, nullable=False),
        sa.Column("finalized_at_utc", UTC_TIME, nullable=True),
    )
    op.create_index("ix_tombstones_undo", "tombstones", ["finalized_at_utc", "undo_until"])
    op.create_table(
        "audit_samples",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("period_start", UTC_TIME, nullable=False),
        sa.Column("period_end", UTC_TIME, nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("share", sa.String(32), nullable=False),
        sa.Column("drawn_by", sa.String(100), nullable=False),
        sa.Column("drawn_at_utc", UTC_TIME, nullable=False),
    )
    op.create_table(
        "audit_sample_clips",
        sa.Column("sample_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("clip_id", sa.Integer(), primary_key=True, autoincrement=False),
    )
    op.create_table(
        "audit_scores",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("is_passed", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("auditor", sa.String(100), nullable=False),
        sa.Column("at_utc", UTC_TIME, nullable=False),
    )
    op.create_index("ix_audit_scores_clip", "audit_scores", ["clip_id", "sample_id"])


def downgrade() -> None:
    for name in (
        "audit_scores",
        "audit_sample_clips",
        "audit_samples",
        "tombstones",
        "holds",
        "clip_retention",
        "retention_cases",
    ):
        op.drop_table(name)

"""Indexes for every listing, and the journal's verified checkpoints.

After a year or two a dock holds a million clips and journal rows, and a listing
SQLite has to sort whole (`dock clips` by stored time took seconds) is too slow on a Pi.
Each listing the CLI and the custodians' pages offer is ordered by time and filtered by at
most one of device, officer, late, verification state; each gets an index that serves
both the filter and the order, so the first page reads only the rows it shows. A test
runs EXPLAIN QUERY PLAN on each listing query.

journal_checkpoints records each `dock audit verify`: the last row verified and its hash,
so the next verify starts there and a daily check costs what was added since. The
reporting side will sign and anchor these; until then they are a local record.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)

# name -> columns of clips. Each ends in id, the listings' tie-break, so the index alone
# gives the order. (The journal needs none: its listings filter on type or device, whose
# indexes end in the rowid, which is the journal's id.)
CLIP_INDEXES = {
    "ix_clips_stored": ["stored_at_utc", "id"],
    "ix_clips_recorded": ["recorded_start_utc", "id"],
    "ix_clips_device_stored": ["device_serial", "stored_at_utc", "id"],
    "ix_clips_officer_stored": ["officer_number", "stored_at_utc", "id"],
    "ix_clips_late_stored": ["is_late", "stored_at_utc", "id"],
    "ix_clips_verification_stored": ["verification", "stored_at_utc", "id"],
}


def upgrade() -> None:
    for name, columns in CLIP_INDEXES.items():
        op.create_index(name, "clips", columns)
    op.create_table(
        "journal_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.Column("first_checked_id", sa.Integer(), nullable=True),
        sa.Column("rows_checked", sa.Integer(), nullable=False),
        sa.Column("is_full", sa.Boolean(), nullable=False),
        sa.Column("verified_at_utc", UTC_TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("journal_checkpoints")
    for name in CLIP_INDEXES:
        op.drop_index(name, "clips")

"""The replicas table: each clip's central copy and the progress of its upload.

A clip may leave a recorder under delete_policy "after_central_copy" only once
the agency's object store holds it under a COMPLIANCE lock; this table is that proof, and it
keeps a multipart upload's id and done parts so a restart resumes instead of starting over.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

UTC_TIME = sa.DateTime(timezone=True)

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replicas",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("queued_at_utc", UTC_TIME, nullable=False),
        sa.Column("confirmed_at_utc", UTC_TIME, nullable=True),
        sa.Column("checksum", sa.String(80), nullable=False, server_default=""),
        sa.Column("retain_until", UTC_TIME, nullable=True),
        sa.Column("upload_id", sa.Text(), nullable=False, server_default=""),
        sa.Column("part_size_bytes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("done_parts", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("refused_reason", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_replicas_confirmed", "replicas", ["confirmed_at_utc"])


def downgrade() -> None:
    op.drop_index("ix_replicas_confirmed", "replicas")
    op.drop_table("replicas")

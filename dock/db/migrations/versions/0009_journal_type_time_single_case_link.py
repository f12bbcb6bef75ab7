"""The journal read by type over a time range; one case link per clip.

The period report and the fixity figures read journal rows of one type within a period:
(type, at_utc) serves both the equality and the range, so a quarter reads only its quarter
(it replaces the index on type alone, which it covers). clip_retention's own case_number
repeated clips.case_number, and the two could disagree; links set only there move to the
clip before the column goes, so no case-linked clip becomes purgeable.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_journal_type_at", "journal", ["type", "at_utc"])
    op.drop_index("ix_journal_type", "journal")
    op.execute(
        "UPDATE clips SET case_number = (SELECT r.case_number FROM clip_retention r "
        "WHERE r.clip_id = clips.id) WHERE case_number IS NULL AND id IN "
        "(SELECT clip_id FROM clip_retention WHERE case_number IS NOT NULL)"
    )
    op.drop_index("ix_clip_retention_case_number", "clip_retention")
    with op.batch_alter_table("clip_retention") as batch:
        batch.drop_column("case_number")


def downgrade() -> None:
    with op.batch_alter_table("clip_retention") as batch:
        batch.add_column(sa.Column("case_number", sa.String(64), nullable=True))
    op.execute(
        "UPDATE clip_retention SET case_number = "
        "(SELECT c.case_number FROM clips c WHERE c.id = clip_retention.clip_id)"
    )
    op.create_index("ix_clip_retention_case_number", "clip_retention", ["case_number"])
    op.create_index("ix_journal_type", "journal", ["type"])
    op.drop_index("ix_journal_type_at", "journal")

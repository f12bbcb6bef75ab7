"""A sampling score names its journal row, so a rescore can say which score it replaces and
the period report counts each auditor's latest score of a clip.

Rows scored before this name the audit.sample_scored row their one score call wrote (the
same auditor at the same instant).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_scores") as batch:
        batch.add_column(sa.Column("entry_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE audit_scores SET entry_id = (SELECT max(j.id) FROM journal j "
        "WHERE j.type = 'audit.sample_scored' AND j.actor = audit_scores.auditor "
        "AND j.at_utc = audit_scores.at_utc)"
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_scores") as batch:
        batch.drop_column("entry_id")

"""How each clip was verified, the card's own evidence of its name and times, and fixity.

A stored record must say whether it was checked against the recorder's hash, by
size only, or not at all (and why); it must keep the name's raw bytes as the card stored
them, the card's own times, and every disagreement between the card and the recorder's
listing. Clips stored before this revision were all size-checked against the listing (the
old rule refused anything else), so they are marked size_only with that reason.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.add_column(
            sa.Column("verification", sa.String(16), nullable=False, server_default="size_only")
        )
        batch.add_column(
            sa.Column(
                "verification_reason",
                sa.Text(),
                nullable=False,
                server_default="stored before verification was recorded",
            )
        )
        batch.add_column(sa.Column("raw_path", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("name_encoding", sa.String(16), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("is_listed", sa.Boolean(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("card_created_utc", UTC_TIME, nullable=True))
        batch.add_column(sa.Column("card_modified_utc", UTC_TIME, nullable=True))
        batch.add_column(
            sa.Column("time_source", sa.String(16), nullable=False, server_default="listing")
        )
        batch.add_column(
            sa.Column("metadata_disagreements", sa.Text(), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("last_fixity_utc", UTC_TIME, nullable=True))
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("raw_path", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("code", sa.String(32), nullable=False, server_default=""))
    op.create_index("ix_clips_verification", "clips", ["verification"])


def downgrade() -> None:
    op.drop_index("ix_clips_verification", "clips")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("code")
        batch.drop_column("raw_path")
    with op.batch_alter_table("clips") as batch:
        for name in (
            "last_fixity_utc",
            "metadata_disagreements",
            "time_source",
            "card_modified_utc",
            "card_created_utc",
            "is_listed",
            "name_encoding",
            "raw_path",
            "verification_reason",
            "verification",
        ):
            batch.drop_column(name)

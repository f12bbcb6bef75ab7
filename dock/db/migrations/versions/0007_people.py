"""Staff, requests and their steps, the viewing register, marks; clip classification.

Viewing, copying and exporting need review and approval by configured roles
(000 art.12-13, 003 art.24), exporting off a recorder two people (003 art.21); clips are
searched by case, party, enforcement type, category and place.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

UTC_TIME = sa.DateTime(timezone=True)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_INDEX = {
    "case_name": "ix_clips_case_name_recorded",
    "case_number": "ix_clips_case_number_recorded",
    "party": "ix_clips_party_recorded",
    "enforcement_type": "ix_clips_enforcement_recorded",
    "category": "ix_clips_category_recorded",
    "place": "ix_clips_place_recorded",
}


def upgrade() -> None:
    with op.batch_alter_table("clips") as clips:
        clips.add_column(sa.Column("case_number", sa.String(64), nullable=True))
        clips.add_column(sa.Column("enforcement_type", sa.String(64), nullable=True))
        clips.add_column(
            sa.Column("offload_confirmed_by", sa.Text(), nullable=False, server_default="")
        )
    for name, index in SEARCH_INDEX.items():
        op.create_index(index, "clips", [name, "recorded_start_utc", "id"])
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until_utc", UTC_TIME, nullable=True),
        sa.Column("created_at_utc", UTC_TIME, nullable=False),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at_utc", UTC_TIME, nullable=False),
        sa.Column("reviewed_by", sa.String(64), nullable=True),
        sa.Column("reviewed_at_utc", UTC_TIME, nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at_utc", UTC_TIME, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False, server_default=""),
        sa.Column("marks_named", sa.Text(), nullable=False, server_default=""),
        sa.Column("expires_at_utc", UTC_TIME, nullable=True),
        sa.Column("carried_out_at_utc", UTC_TIME, nullable=True),
    )
    op.create_index("ix_requests_state_kind", "requests", ["state", "kind", "id"])
    op.create_index("ix_requests_clip_id", "requests", ["clip_id"])
    op.create_table(
        "request_confirmations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("at_utc", UTC_TIME, nullable=False),
    )
    op.create_index(
        "ux_confirmations", "request_confirmations", ["request_id", "username"], unique=True
    )
    op.create_table(
        "viewings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at_utc", UTC_TIME, nullable=False),
    )
    op.create_index("ix_viewings_clip_at", "viewings", ["clip_id", "at_utc"])
    op.create_table(
        "confidentiality_marks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("clip_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(64), nullable=True),
        sa.Column("mark", sa.String(32), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("set_at_utc", UTC_TIME, nullable=False),
    )
    op.create_index("ix_marks_clip", "confidentiality_marks", ["clip_id"])
    op.create_index("ix_marks_case", "confidentiality_marks", ["case_number"])
    op.create_table(
        "offload_confirmations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bay", sa.Integer(), nullable=False),
        sa.Column("device_serial", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("at_utc", UTC_TIME, nullable=False),
        sa.Column("is_used", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(
        "ix_offload_confirmations_bay",
        "offload_confirmations",
        ["bay", "device_serial", "is_used"],
    )


def downgrade() -> None:
    for table in (
        "offload_confirmations",
        "confidentiality_marks",
        "viewings",
        "request_confirmations",
        "requests",
        "staff",
    ):
        op.drop_table(table)
    for index in SEARCH_INDEX.values():
        op.drop_index(index, "clips")
    with op.batch_alter_table("clips") as clips:
        clips.drop_column("offload_confirmed_by")
        clips.drop_column("enforcement_type")
        clips.drop_column("case_number")

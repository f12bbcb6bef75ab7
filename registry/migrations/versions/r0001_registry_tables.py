"""The registry tables: docks, rows, checkpoints, bays, devices, alerts

Revision ID: r0001
Revises:
Create Date: 2026-12-02 03:53:25.642421
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dock.db.types import UtcDateTime

revision: str = "r0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "docks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=True),
        sa.Column("public_key_source", sa.String(length=16), nullable=True),
        sa.Column("availability", sa.String(length=16), nullable=True),
        sa.Column("availability_at", UtcDateTime(), nullable=True),
        sa.Column("status_json", sa.JSON(), nullable=True),
        sa.Column("status_at", UtcDateTime(), nullable=True),
        sa.Column("verified_head_id", sa.Integer(), nullable=False),
        sa.Column("verified_head_hash", sa.String(length=64), nullable=True),
        sa.Column("last_checkpoint_size", sa.Integer(), nullable=True),
        sa.Column("last_checkpoint_head_id", sa.Integer(), nullable=True),
        sa.Column("last_checkpoint_head_hash", sa.String(length=64), nullable=True),
        sa.Column("last_checkpoint_signed_at", UtcDateTime(), nullable=True),
        sa.Column("last_row_received_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dock_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=256), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("cleared_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dock_id"],
            ["docks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dock_id", "kind", "subject", name="uq_alerts_subject"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_dock_id"), ["dock_id"], unique=False)

    op.create_table(
        "bays",
        sa.Column("dock_id", sa.String(length=64), nullable=False),
        sa.Column("bay", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dock_id"],
            ["docks.id"],
        ),
        sa.PrimaryKeyConstraint("dock_id", "bay"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dock_id", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("journal_size", sa.Integer(), nullable=False),
        sa.Column("head_id", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", UtcDateTime(), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("signature_ok", sa.Boolean(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dock_id"],
            ["docks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkpoints_dock_id"), ["dock_id"], unique=False)

    op.create_table(
        "devices",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("dock_id", sa.String(length=64), nullable=True),
        sa.Column("last_verdict", sa.String(length=16), nullable=True),
        sa.Column("last_reasons", sa.JSON(), nullable=True),
        sa.Column("battery_pct", sa.Integer(), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dock_id"],
            ["docks.id"],
        ),
        sa.PrimaryKeyConstraint("serial"),
    )
    op.create_table(
        "rows",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dock_id", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("conflict_no", sa.Integer(), nullable=False),
        sa.Column("at_utc", UtcDateTime(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("bay", sa.Integer(), nullable=True),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("chain_ok", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dock_id"],
            ["docks.id"],
        ),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("dock_id", "row_id", "conflict_no", name="uq_rows_dock_row"),
    )
    with op.batch_alter_table("rows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rows_dock_id"), ["dock_id"], unique=False)
        batch_op.create_index("ix_rows_dock_type", ["dock_id", "type"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("rows", schema=None) as batch_op:
        batch_op.drop_index("ix_rows_dock_type")
        batch_op.drop_index(batch_op.f("ix_rows_dock_id"))

    op.drop_table("rows")
    op.drop_table("devices")
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkpoints_dock_id"))

    op.drop_table("checkpoints")
    op.drop_table("bays")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_dock_id"))

    op.drop_table("alerts")
    op.drop_table("docks")

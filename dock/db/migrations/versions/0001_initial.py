"""The ledger, bays, clips, quarantine and the append-only journal.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)

# The journal refuses UPDATE and DELETE in the database itself, so a bug or a careless
# script cannot rewrite history. (Someone with the file can drop the triggers; the hash
# chain is what catches that.)
SQLITE_TRIGGERS = [
    "CREATE TRIGGER journal_refuses_update BEFORE UPDATE ON journal "
    "BEGIN SELECT RAISE(ABORT, 'journal is append-only: UPDATE refused'); END",
    "CREATE TRIGGER journal_refuses_delete BEFORE DELETE ON journal "
    "BEGIN SELECT RAISE(ABORT, 'journal is append-only: DELETE refused'); END",
]
POSTGRESQL_TRIGGERS = [
    "CREATE FUNCTION journal_refuses_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'journal is append-only: % refused', TG_OP; END $$",
    "CREATE TRIGGER journal_refuses_change BEFORE UPDATE OR DELETE ON journal "
    "FOR EACH ROW EXECUTE FUNCTION journal_refuses_change()",
    "CREATE TRIGGER journal_refuses_truncate BEFORE TRUNCATE ON journal "
    "FOR EACH STATEMENT EXECUTE FUNCTION journal_refuses_change()",
]


def upgrade() -> None:
    op.create_table(
        "officers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("officer_number", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("unit_number", sa.String(64), nullable=False),
        sa.Column("unit_name", sa.String(200), nullable=False),
        sa.Column("registered_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("serial", sa.String(64), nullable=False, unique=True),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("firmware_version", sa.String(64), nullable=False),
        sa.Column("pairing_key", sa.LargeBinary(32), nullable=False),
        sa.Column("is_paired", sa.Boolean(), nullable=False),
        sa.Column("maintenance_state", sa.String(16), nullable=False),
        sa.Column("registered_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("officer_id", sa.Integer(), sa.ForeignKey("officers.id"), nullable=False),
        sa.Column("assigned_from", UTC_TIME, nullable=False),
        sa.Column("assigned_to", UTC_TIME, nullable=True),
    )
    op.create_index("ix_assignments_device_id", "assignments", ["device_id"])
    op.create_index("ix_assignments_officer_id", "assignments", ["officer_id"])
    op.create_table(
        "custody",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("officer_id", sa.Integer(), sa.ForeignKey("officers.id"), nullable=False),
        sa.Column("bay", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTC_TIME, nullable=False),
        sa.Column("returned_at", UTC_TIME, nullable=True),
        sa.Column("return_bay", sa.Integer(), nullable=True),
    )
    op.create_index("ix_custody_device_id", "custody", ["device_id"])
    op.create_index("ix_custody_officer_id", "custody", ["officer_id"])
    op.create_table(
        "firmware_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("seen_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_firmware_history_device_id", "firmware_history", ["device_id"])
    op.create_table(
        "bays",
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("device_serial", sa.String(64), nullable=True),
        sa.Column("updated_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "clips",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("agency", sa.String(200), nullable=False),
        sa.Column("dock_id", sa.String(64), nullable=False),
        sa.Column("bay", sa.Integer(), nullable=False),
        sa.Column("device_serial", sa.String(64), nullable=False),
        sa.Column("officer_number", sa.String(32), nullable=True),
        sa.Column("recorded_start_utc", UTC_TIME, nullable=False),
        sa.Column("recorded_end_utc", UTC_TIME, nullable=False),
        sa.Column("stored_at_utc", UTC_TIME, nullable=False),
        sa.Column("place", sa.Text(), nullable=True),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("is_important", sa.Boolean(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("handover_delay_s", sa.Float(), nullable=False),
        sa.Column("is_late", sa.Boolean(), nullable=False),
        sa.Column("late_justification", sa.Text(), nullable=True),
        sa.Column("case_name", sa.Text(), nullable=True),
        sa.Column("party", sa.Text(), nullable=True),
    )
    op.create_index("ix_clips_device_serial", "clips", ["device_serial"])
    op.create_index("ix_clips_officer_number", "clips", ["officer_number"])
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_serial", sa.String(64), nullable=False),
        sa.Column("bay", sa.Integer(), nullable=True),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at_utc", UTC_TIME, nullable=False),
    )
    op.create_index("ix_quarantine_device_serial", "quarantine", ["device_serial"])
    op.create_table(
        "journal",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at_utc", UTC_TIME, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("bay", sa.Integer(), nullable=True),
        sa.Column("device", sa.String(64), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_journal_type", "journal", ["type"])
    op.create_index("ix_journal_device", "journal", ["device"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    # The journal is evidence: no migration drops it. Downgrading past this revision is
    # refused rather than written.
    raise NotImplementedError("the initial schema holds the journal and is never dropped")

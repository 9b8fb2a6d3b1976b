"""Saved segments, their versions, live membership, the due-time index and daily sizes.

Revision ID: scoring_0006
Revises: scoring_0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "scoring_0006"
down_revision = "scoring_0005"
branch_labels = None
depends_on = None

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("segment_id", _UUID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("condition", pg.JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("deleted_at", _TS),
    )
    op.create_index(
        "segments_live_name",
        "segments",
        ["tenant_id", "name"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "segment_versions",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("segment_id", _UUID, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("condition", pg.JSONB, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "segment_members",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("segment_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("entered_at", _TS, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("segment_members_by_customer", "segment_members", ["tenant_id", "customer_id"])
    op.create_table(
        "segment_due",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("segment_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("due_at", _TS, nullable=False),
    )
    op.create_index("segment_due_by_time", "segment_due", ["due_at"])
    op.create_table(
        "segment_sizes",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("segment_id", _UUID, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("members", sa.BigInteger, nullable=False),
        sa.Column("taken_at", _TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("segment_sizes", "segment_due", "segment_members", "segment_versions", "segments"):
        op.drop_table(table)

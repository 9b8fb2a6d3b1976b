"""Segment exports: the export records and the members' snapshot with masked contacts.

Revision ID: scoring_0007
Revises: scoring_0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "scoring_0007"
down_revision = "scoring_0006"
branch_labels = None
depends_on = None

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "segment_exports",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("export_id", _UUID, primary_key=True),
        sa.Column("segment_id", _UUID, nullable=False),
        sa.Column("segment_version", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("done", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("lease_owner", _UUID),
        sa.Column("lease_until", _TS),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("started_at", _TS),
        sa.Column("finished_at", _TS),
        sa.Column("expires_at", _TS),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'expired')", name="ck_segment_exports_status"
        ),
        sa.CheckConstraint(
            "done >= 0 AND done <= total AND rows <= done", name="ck_segment_exports_progress"
        ),
    )
    op.create_index(
        "segment_exports_active",
        "segment_exports",
        ["tenant_id"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_table(
        "segment_export_rows",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("export_id", _UUID, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("customer_id", _UUID, nullable=False),
        sa.Column("entered_at", _TS, nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("email", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("segment_export_rows")
    op.drop_table("segment_exports")

"""Consumer bookkeeping and the projection of profile's customers.

Revision ID: scoring_0002
Revises: scoring_0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from services.runtime.events.tables import create_consumer_tables_v1, drop_consumer_tables_v1

revision = "scoring_0002"
down_revision = "scoring_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_consumer_tables_v1()
    op.create_table(
        "customers",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("registration_channel", sa.Text),
        sa.Column("device", sa.Text),
        sa.Column("merged_into", pg.UUID(as_uuid=True)),
        sa.Column("erased_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("events_applied", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("customers")
    drop_consumer_tables_v1()

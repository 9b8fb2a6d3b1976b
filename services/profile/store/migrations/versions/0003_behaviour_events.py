"""Behaviour events (POST /v1/events).

Revision ID: profile_0003
Revises: profile_0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "profile_0003"
down_revision = "profile_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "behaviour_events",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("received_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("properties", pg.JSONB, nullable=False, server_default="{}"),
        sa.CheckConstraint(
            "char_length(event_id) BETWEEN 1 AND 128", name="ck_behaviour_events_event_id_length"
        ),
    )
    op.create_index(
        "ix_behaviour_events_customer_time",
        "behaviour_events",
        ["tenant_id", "customer_id", "occurred_at", "event_id"],
    )


def downgrade() -> None:
    op.drop_table("behaviour_events")

"""Journeys: definitions and their versions, instances, entries, the step ledger and customer facts.

Revision ID: notify_0004
Revises: notify_0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "notify_0004"
down_revision = "notify_0003"
branch_labels = None
depends_on = None

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "journeys",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("journey_id", _UUID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("from_template", sa.Text),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
    )
    op.create_table(
        "journey_versions",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("journey_id", _UUID, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("document", pg.JSONB, nullable=False),
        sa.Column("trigger_kind", sa.Text, nullable=False),
        sa.Column("trigger_key", sa.Text, nullable=False),
        sa.Column("has_goal", sa.Boolean, nullable=False),
        sa.Column("reentry", sa.Interval),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "journey_id"], ["journeys.tenant_id", "journeys.journey_id"], ondelete="CASCADE"
        ),
    )
    op.create_index(
        "journey_versions_by_trigger", "journey_versions", ["tenant_id", "trigger_kind", "trigger_key"]
    )
    op.create_table(
        "journey_instances",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("instance_id", _UUID, primary_key=True),
        sa.Column("journey_id", _UUID, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("customer_id", _UUID, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("cursor", sa.Text),
        sa.Column("due_at", _TS),
        sa.Column("entry_key", sa.Text, nullable=False),
        sa.Column("entered_at", _TS, nullable=False),
        sa.Column("trigger_at", _TS, nullable=False),
        sa.Column("context", pg.JSONB, nullable=False),
        sa.Column("lease_token", _UUID),
        sa.Column("lease_until", _TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("ended_at", _TS),
        sa.Column("end_reason", sa.Text),
        sa.Column("converted_order_id", sa.Text),
        sa.Column("revenue_minor", sa.BigInteger),
        sa.UniqueConstraint(
            "tenant_id", "journey_id", "customer_id", "entry_key", name="journey_instances_entry"
        ),
    )
    op.create_index(
        "journey_instances_due",
        "journey_instances",
        ["due_at"],
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index("journey_instances_by_customer", "journey_instances", ["tenant_id", "customer_id"])
    op.create_index(
        "journey_instances_by_journey", "journey_instances", ["tenant_id", "journey_id", "status"]
    )
    op.create_table(
        "journey_entries",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("journey_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("last_entered_at", _TS, nullable=False),
        sa.Column("live_instance_id", _UUID),
    )
    op.create_table(
        "journey_steps",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("instance_id", _UUID, primary_key=True),
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("journey_id", _UUID, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("message_id", _UUID),
        sa.Column("coupon_code", sa.Text),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_index("journey_steps_by_journey", "journey_steps", ["tenant_id", "journey_id", "path"])
    op.create_table(
        "journey_customer_facts",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("birth_month", sa.SmallInteger),
        sa.Column("birth_day", sa.SmallInteger),
        sa.Column("timezone", sa.Text),
        sa.Column("first_order_id", sa.Text),
        sa.Column("last_order_at", _TS),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index(
        "journey_customer_facts_birthday",
        "journey_customer_facts",
        ["tenant_id", "birth_month", "birth_day"],
    )


def downgrade() -> None:
    op.drop_table("journey_customer_facts")
    op.drop_table("journey_steps")
    op.drop_table("journey_entries")
    op.drop_table("journey_instances")
    op.drop_table("journey_versions")
    op.drop_table("journeys")

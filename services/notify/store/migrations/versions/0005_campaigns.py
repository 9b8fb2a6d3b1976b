"""Campaigns: definitions, audience snapshots, recipients' orders; messages rendered when due.

Revision ID: notify_0005
Revises: notify_0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "notify_0005"
down_revision = "notify_0004"
branch_labels = None
depends_on = None

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("campaign_id", _UUID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("segment_id", _UUID, nullable=False),
        sa.Column("document", pg.JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("phase", sa.Text),
        sa.Column("groups", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("templates", pg.ARRAY(_UUID), nullable=False),
        sa.Column("ends", pg.ARRAY(sa.Integer), nullable=False),
        sa.Column("conversion_window", sa.Interval, nullable=False),
        sa.Column("send_at", _TS),
        sa.Column("send_local", sa.TIMESTAMP(timezone=False)),
        sa.Column("send_zone", sa.Text, nullable=False),
        sa.Column("global_control_percent", sa.Float, nullable=False, server_default="0"),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("started_at", _TS),
        sa.Column("snapshot_at", _TS),
        sa.Column("segment_version", sa.Integer),
        sa.Column("first_send_at", _TS),
        sa.Column("completed_at", _TS),
        sa.Column("cancelled_at", _TS),
        sa.Column("recipients", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("group_sizes", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("planned_through", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("wake_at", _TS),
        sa.Column("lease_token", _UUID),
        sa.Column("lease_until", _TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
        sa.CheckConstraint(
            "status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')",
            name="ck_campaigns_status",
        ),
        sa.CheckConstraint("phase IN ('snapshot', 'planning', 'sending')", name="ck_campaigns_phase"),
    )
    op.create_index("campaigns_by_created", "campaigns", ["tenant_id", "created_at", "campaign_id"])
    op.create_index("campaigns_due", "campaigns", ["wake_at"], postgresql_where=sa.text("phase IS NOT NULL"))
    op.create_table(
        "campaign_recipients",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("campaign_id", _UUID, primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("customer_id", _UUID, nullable=False),
        sa.Column("group_name", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("message_id", _UUID),
    )
    op.create_index(
        "campaign_recipients_by_customer",
        "campaign_recipients",
        ["tenant_id", "customer_id", "campaign_id"],
        unique=True,
    )
    op.create_table(
        "campaign_orders",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("campaign_id", _UUID, primary_key=True),
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("customer_id", _UUID, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("paid_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaigns.tenant_id", "campaigns.campaign_id"],
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "campaign_orders_by_customer", "campaign_orders", ["tenant_id", "campaign_id", "customer_id"]
    )
    op.create_table(
        "campaign_order_discounts",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("coupon_code", sa.Text, primary_key=True),
        sa.Column("discount_minor", sa.BigInteger, nullable=False),
        sa.Column("redeemed_at", _TS, nullable=False),
    )
    op.add_column("messages", sa.Column("render_at", _TS))
    op.create_index(
        "ix_messages_render",
        "messages",
        ["tenant_id", "sender_ref", "render_at"],
        postgresql_where=sa.text("render_at IS NOT NULL"),
    )
    op.create_index(
        "ix_messages_campaign",
        "messages",
        ["tenant_id", "sender_ref", "status"],
        postgresql_where=sa.text("sender = 'campaign'"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_campaign", table_name="messages")
    op.drop_index("ix_messages_render", table_name="messages")
    op.drop_column("messages", "render_at")
    op.drop_table("campaign_order_discounts")
    op.drop_table("campaign_orders")
    op.drop_table("campaign_recipients")
    op.drop_table("campaigns")

"""The merchant's webhooks: endpoints with sealed secrets, their deliveries and the attempt log.

Revision ID: notify_0003
Revises: notify_0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "notify_0003"
down_revision = "notify_0002"
branch_labels = None
depends_on = None

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("webhook_id", _UUID, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.Text),
        sa.Column("disabled_at", _TS),
        sa.Column("exhausted_in_a_row", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("delivery_id", _UUID, primary_key=True),
        sa.Column("webhook_id", _UUID, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _TS),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("finished_at", _TS),
        sa.ForeignKeyConstraint(
            ["tenant_id", "webhook_id"], ["webhooks.tenant_id", "webhooks.webhook_id"], ondelete="CASCADE"
        ),
        sa.UniqueConstraint("tenant_id", "webhook_id", "event_id", name="uq_webhook_deliveries_event"),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'cancelled')", name="ck_webhook_deliveries_status"
        ),
    )
    op.create_index(
        "webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "webhook_deliveries_log",
        "webhook_deliveries",
        ["tenant_id", "webhook_id", "created_at", "delivery_id"],
    )
    op.create_index(
        "webhook_deliveries_finished",
        "webhook_deliveries",
        ["finished_at"],
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("delivery_id", _UUID, primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("attempted_at", _TS, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "delivery_id"],
            ["webhook_deliveries.tenant_id", "webhook_deliveries.delivery_id"],
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_index("webhook_deliveries_finished", table_name="webhook_deliveries")
    op.drop_index("webhook_deliveries_log", table_name="webhook_deliveries")
    op.drop_index("webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")

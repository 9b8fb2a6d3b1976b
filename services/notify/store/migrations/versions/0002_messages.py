"""Notify's messaging: channels, the policy, templates, consents, suppressions, customer states,
messages, and notify's event outbox and consumer state.

Revision ID: notify_0002
Revises: notify_0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from services.runtime.events.tables import (
    create_consumer_tables_v1,
    create_producer_tables_v1,
    drop_consumer_tables_v1,
    drop_producer_tables_v1,
)

revision = "notify_0002"
down_revision = "notify_0001"
branch_labels = None
depends_on = None

_NOW = sa.func.now()
_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)
_TABLES = ("messages", "customer_states", "suppressions", "consents", "templates", "policies", "channels")


def _tenant_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"])


def upgrade() -> None:
    create_producer_tables_v1()
    create_consumer_tables_v1()
    op.create_table(
        "channels",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("settings", pg.JSONB, nullable=False),
        sa.Column("sealed_secrets", sa.LargeBinary),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("updated_at", _TS, nullable=False, server_default=_NOW),
        _tenant_fk(),
        sa.CheckConstraint("channel IN ('sms', 'email', 'push', 'wechat')", name="ck_channels_channel"),
    )

    op.create_table(
        "policies",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("document", pg.JSONB, nullable=False),
        sa.Column("updated_at", _TS, nullable=False, server_default=_NOW),
        _tenant_fk(),
    )

    op.create_table(
        "templates",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("template_id", _UUID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("html", sa.Text),
        sa.Column("provider_template", sa.Text),
        sa.Column("provider_params", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("personal_fields", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("created_at", _TS, nullable=False, server_default=_NOW),
        sa.Column("updated_at", _TS, nullable=False, server_default=_NOW),
        _tenant_fk(),
        sa.UniqueConstraint("tenant_id", "name", name="uq_templates_name"),
        sa.CheckConstraint("channel IN ('sms', 'email', 'push', 'wechat')", name="ck_templates_channel"),
        sa.CheckConstraint("purpose IN ('marketing', 'service')", name="ck_templates_purpose"),
    )

    op.create_table(
        "consents",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("purpose", sa.Text, primary_key=True),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
        _tenant_fk(),
    )

    op.create_table(
        "suppressions",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False, server_default=_NOW),
        _tenant_fk(),
        sa.CheckConstraint("reason IN ('unsubscribed', 'bounced', 'refused')", name="ck_suppressions_reason"),
    )

    op.create_table(
        "customer_states",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("erased_at", _TS),
        sa.Column("merged_into", _UUID),
        _tenant_fk(),
    )

    op.create_table(
        "messages",
        sa.Column("message_id", _UUID, primary_key=True),
        sa.Column("tenant_id", _UUID, nullable=False),
        sa.Column("customer_id", _UUID, nullable=False),
        sa.Column("template_id", _UUID, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("sender", sa.Text, nullable=False),
        sa.Column("sender_ref", sa.Text),
        sa.Column("dedupe_key", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("contact_masked", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("body", sa.Text),
        sa.Column("html", sa.Text),
        sa.Column("provider_template", sa.Text),
        sa.Column("provider_params", pg.JSONB),
        sa.Column("data", pg.JSONB),
        sa.Column("created_at", _TS, nullable=False, server_default=_NOW),
        sa.Column("due_at", _TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_until", _TS),
        sa.Column("in_flight", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("provider", sa.Text),
        sa.Column("provider_message_id", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("sent_at", _TS),
        sa.Column("delivered_at", _TS),
        sa.Column("opened_at", _TS),
        sa.Column("clicked_at", _TS),
        sa.Column("failed_at", _TS),
        sa.Column("converted_at", _TS),
        sa.Column("conversion_order_id", sa.Text),
        sa.Column("conversion_amount_minor", sa.BigInteger),
        sa.Column("conversion_currency", sa.Text),
        _tenant_fk(),
        sa.CheckConstraint(
            "status IN ('queued', 'deferred', 'sent', 'delivered', 'opened', 'clicked', 'failed', "
            "'suppressed')",
            name="ck_messages_status",
        ),
        sa.CheckConstraint("purpose IN ('marketing', 'service')", name="ck_messages_purpose"),
    )
    op.create_index(
        "uq_messages_dedupe",
        "messages",
        ["tenant_id", "dedupe_key"],
        unique=True,
        postgresql_where=sa.text("dedupe_key IS NOT NULL"),
    )
    op.create_index("ix_messages_customer", "messages", ["tenant_id", "customer_id", "created_at"])
    op.create_index(
        "ix_messages_due",
        "messages",
        ["due_at"],
        postgresql_where=sa.text("status IN ('queued', 'deferred')"),
    )
    op.create_index(
        "ix_messages_provider_id",
        "messages",
        ["provider", "provider_message_id"],
        postgresql_where=sa.text("provider_message_id IS NOT NULL"),
    )


def downgrade() -> None:
    for table in _TABLES:
        op.drop_table(table)
    drop_consumer_tables_v1()
    drop_producer_tables_v1()

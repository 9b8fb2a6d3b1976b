"""The audience projection: segment attributes on customers, tags, consents, loyalty, behaviour
events with their exact time and properties, and refund reasons.

Revision ID: scoring_0005
Revises: scoring_0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "scoring_0005"
down_revision = "scoring_0004"
branch_labels = None
depends_on = None

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)
_ATTRIBUTES = (
    ("gender", sa.Text),
    ("province", sa.Text),
    ("city", sa.Text),
    ("birthday", sa.Date),
    ("registered_at", _TS),
    ("timezone", sa.Text),
)


def upgrade() -> None:
    for name, kind in _ATTRIBUTES:
        op.add_column("customers", sa.Column(name, kind))
    op.add_column("order_refunds", sa.Column("reason", sa.Text))
    op.create_table(
        "audience_tags",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("tag_id", _UUID, primary_key=True),
        sa.Column("expires_at", _TS),
    )
    op.create_index("audience_tags_by_tag", "audience_tags", ["tenant_id", "tag_id"])
    op.create_table(
        "audience_consents",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("purpose", sa.Text, primary_key=True),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
    )
    op.create_table(
        "audience_loyalty",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("tier", sa.Text),
        sa.Column("points", sa.BigInteger),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "behaviour_events",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("customer_id", _UUID, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("occurred_at", _TS, nullable=False),
        sa.Column("properties", pg.JSONB, nullable=False, server_default="{}"),
    )
    op.create_index(
        "behaviour_events_by_type", "behaviour_events", ["tenant_id", "event_type", "occurred_at"]
    )
    op.create_index(
        "behaviour_events_by_customer",
        "behaviour_events",
        ["tenant_id", "customer_id", "event_type", "occurred_at"],
    )


def downgrade() -> None:
    op.drop_table("behaviour_events")
    op.drop_table("audience_loyalty")
    op.drop_table("audience_consents")
    op.drop_table("audience_tags")
    op.drop_column("order_refunds", "reason")
    for name, _ in reversed(_ATTRIBUTES):
        op.drop_column("customers", name)

"""Order and behaviour projections, features, RFM, lifecycle, engagement, configuration and runs.

Scoring also becomes a producer (``lifecycle.stage_changed``): the outbox tables.

Revision ID: scoring_0003
Revises: scoring_0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from services.runtime.events.tables import create_producer_tables_v1, drop_producer_tables_v1

revision = "scoring_0003"
down_revision = "scoring_0002"
branch_labels = None
depends_on = None

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)


def _facts() -> None:
    op.create_table(
        "orders",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("customer_id", _UUID, nullable=False),
        sa.Column("paid_at", _TS, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("refunded_minor", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("ix_orders_customer", "orders", ["tenant_id", "customer_id"])
    op.create_index("ix_orders_paid_at", "orders", ["tenant_id", "paid_at"])
    op.create_table(
        "order_items",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("line", sa.SmallInteger, primary_key=True),
        sa.Column("category", sa.Text),
        sa.Column("brand", sa.Text),
        sa.Column("unit_price_minor", sa.BigInteger, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
    )
    op.create_table(
        "order_extras",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("coupon_used", sa.Boolean, nullable=False),
        sa.Column("channel", sa.Text),
    )
    op.create_table(
        "order_refunds",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("refund_id", sa.Text, primary_key=True),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("refunded_at", _TS, nullable=False),
    )
    op.create_table(
        "activity_daily",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("event_type", sa.Text, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("last_at", _TS, nullable=False),
    )
    op.create_table(
        "activity_hours",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("hour", sa.SmallInteger, primary_key=True),
        sa.Column("events", sa.BigInteger, nullable=False),
    )


def _derived() -> None:
    op.create_table(
        "customer_scores",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("first_order_at", _TS),
        sa.Column("last_order_at", _TS),
        sa.Column("order_count", sa.Integer, nullable=False),
        sa.Column("net_spend_minor", sa.BigInteger, nullable=False),
        sa.Column("mean_gap_days", sa.Float),
        sa.Column("last_gap_days", sa.Float),
        sa.Column("top_category", sa.Text),
        sa.Column("top_brand", sa.Text),
        sa.Column("avg_unit_price_minor", sa.BigInteger),
        sa.Column("price_band", sa.Text),
        sa.Column("coupon_share", sa.Float),
        sa.Column("active_hour", sa.SmallInteger),
        sa.Column("last_seen_at", _TS),
        sa.Column("last_activity", pg.JSONB, nullable=False),
        sa.Column("activity_counts", pg.JSONB, nullable=False),
        sa.Column("recency_days", sa.Integer),
        sa.Column("frequency", sa.Integer),
        sa.Column("monetary_minor", sa.BigInteger),
        sa.Column("r", sa.SmallInteger),
        sa.Column("f", sa.SmallInteger),
        sa.Column("m", sa.SmallInteger),
        sa.Column("rfm_group", sa.Text),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("stage_reason", sa.Text, nullable=False),
        sa.Column("engagement", sa.Float, nullable=False),
        sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "tenant_baselines",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("split", sa.Text, nullable=False),
        sa.Column("r_cuts", pg.ARRAY(sa.Float), nullable=False),
        sa.Column("f_cuts", pg.ARRAY(sa.Float), nullable=False),
        sa.Column("m_cuts", pg.ARRAY(sa.Float), nullable=False),
        sa.Column("r_split", sa.Float, nullable=False),
        sa.Column("f_split", sa.Float, nullable=False),
        sa.Column("m_split", sa.Float, nullable=False),
        sa.Column("price_cuts", pg.ARRAY(sa.Float), nullable=False),
        sa.Column("customers", sa.Integer, nullable=False),
        sa.Column("computed_at", _TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "computed_tags",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("tag_keys", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("written_at", _TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "tag_catalog",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("tag_key", sa.Text, primary_key=True),
        sa.Column("tag_id", sa.Text, nullable=False),
    )


def _operations() -> None:
    op.create_table(
        "scoring_config",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("document", pg.JSONB, nullable=False),
        sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "scoring_runs",
        sa.Column("run_id", _UUID, primary_key=True),
        sa.Column("tenant_id", _UUID, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("phase", sa.Text, nullable=False),
        sa.Column("done", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("total", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("details", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("error", sa.Text),
        sa.Column("started_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.Column("heartbeat_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", _TS),
    )
    op.create_index("ix_scoring_runs_tenant", "scoring_runs", ["tenant_id", "started_at"])
    op.create_index(
        "ux_scoring_runs_running",
        "scoring_runs",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "ux_scoring_runs_scheduled",
        "scoring_runs",
        ["tenant_id", "as_of"],
        unique=True,
        postgresql_where=sa.text("trigger = 'schedule'"),
    )


def upgrade() -> None:
    _facts()
    _derived()
    _operations()
    create_producer_tables_v1()


def downgrade() -> None:
    drop_producer_tables_v1()
    for table in (
        "scoring_runs",
        "scoring_config",
        "tag_catalog",
        "computed_tags",
        "tenant_baselines",
        "customer_scores",
        "activity_hours",
        "activity_daily",
        "order_refunds",
        "order_extras",
        "order_items",
        "orders",
    ):
        op.drop_table(table)

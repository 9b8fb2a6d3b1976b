"""Buyers and repeat buyers of any period without grouping its buyer-days: ``kpi_order_returns``.

Each counted order by its day and the day of the customer's counted order one and two back; each
buyer's counted order days in order on ``kpi_first_orders.order_days`` (docs/kpis.md). The upgrade
fills both for every tenant (each tenant's own time zone, under the stripe 0), then adds the key.
Like ``scoring_0011`` it runs before the new consumers start (``patron up`` and the Kubernetes Job
do); ``kpi_backfill.rebuild_tenant`` repairs a tenant online.

Revision ID: scoring_0014
Revises: scoring_0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "scoring_0014"
down_revision = "scoring_0013"
branch_labels = None
depends_on = None

# Frozen here as they ran.
_ORDER_DAYS = """
    UPDATE kpi_first_orders AS k SET order_days = f.days
    FROM (
        SELECT o.tenant_id, o.customer_id,
               array_agg((o.paid_at AT TIME ZONE coalesce(t.timezone, 'Asia/Shanghai'))::date
                         ORDER BY o.paid_at) AS days
        FROM orders o LEFT JOIN tenants t ON t.tenant_id = o.tenant_id
        WHERE o.refunded_minor < o.amount_minor
        GROUP BY o.tenant_id, o.customer_id
    ) AS f
    WHERE k.tenant_id = f.tenant_id AND k.customer_id = f.customer_id
"""

_ORDER_RETURNS = """
    INSERT INTO kpi_order_returns (tenant_id, day, back, previous_day, stripe, orders)
    SELECT k.tenant_id, d.day, b.back, coalesce(k.order_days[d.i - b.back], CAST('-infinity' AS date)), 0,
           count(*)
    FROM kpi_first_orders k
    CROSS JOIN LATERAL unnest(k.order_days) WITH ORDINALITY AS d(day, i)
    CROSS JOIN (VALUES (1), (2)) AS b(back)
    GROUP BY 1, 2, 3, 4
"""


def upgrade() -> None:
    """Add the buyers' order days, create ``kpi_order_returns``, fill both, then key the table."""
    op.add_column(
        "kpi_first_orders",
        sa.Column("order_days", pg.ARRAY(sa.Date), nullable=False, server_default="{}"),
    )
    op.create_table(
        "kpi_order_returns",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("back", sa.SmallInteger, nullable=False),
        sa.Column("previous_day", sa.Date, nullable=False),
        sa.Column("stripe", sa.SmallInteger, nullable=False),
        sa.Column("orders", sa.Integer, nullable=False),
    )
    op.execute(_ORDER_DAYS)
    op.execute(_ORDER_RETURNS)
    op.create_primary_key(
        "kpi_order_returns_pkey", "kpi_order_returns", ["tenant_id", "day", "back", "previous_day", "stripe"]
    )
    op.execute("ANALYZE kpi_order_returns")


def downgrade() -> None:
    """Drop ``kpi_order_returns`` and the buyers' order days."""
    op.drop_table("kpi_order_returns")
    op.drop_column("kpi_first_orders", "order_days")

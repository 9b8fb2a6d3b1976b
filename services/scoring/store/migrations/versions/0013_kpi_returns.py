"""Active customers of any period without a distinct count: ``kpi_returns`` (docs/kpis.md).

Customer-days counted by day and the customer's previous active day, per stripe: a period's
distinct active customers are those of its days whose previous active day is before it, one sum
over the period's rows. The upgrade fills it from ``kpi_customer_days`` for every tenant (under the
stripe 0), then adds the key; on a tenant of 1 M customers and 17.7 M customer-days it takes a few
minutes. Like ``scoring_0011`` it runs before the new consumers start (``patron up`` and the
Kubernetes Job do): days an old consumer adds between the fill and the rollout would be missing
(``kpi_backfill.rebuild_tenant`` repairs a tenant online).

Revision ID: scoring_0013
Revises: scoring_0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "scoring_0013"
down_revision = "scoring_0012"
branch_labels = None
depends_on = None

# Frozen here as it ran: each customer-day by the customer's previous active day.
_FILL = """
    INSERT INTO kpi_returns (tenant_id, day, previous_day, stripe, customers)
    SELECT tenant_id, day, previous_day, 0, count(*) FROM (
        SELECT tenant_id, day,
               coalesce(lag(day) OVER (PARTITION BY tenant_id, customer_id ORDER BY day),
                        CAST('-infinity' AS date)) AS previous_day
        FROM kpi_customer_days
    ) AS days
    GROUP BY tenant_id, day, previous_day
"""


def upgrade() -> None:
    """Create ``kpi_returns``, fill it from every tenant's active days, then key it."""
    op.create_table(
        "kpi_returns",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("previous_day", sa.Date, nullable=False),
        sa.Column("stripe", sa.SmallInteger, nullable=False),
        sa.Column("customers", sa.Integer, nullable=False),
    )
    op.execute(_FILL)
    op.create_primary_key("kpi_returns_pkey", "kpi_returns", ["tenant_id", "day", "previous_day", "stripe"])
    op.execute("ANALYZE kpi_returns")


def downgrade() -> None:
    """Drop ``kpi_returns``."""
    op.drop_table("kpi_returns")

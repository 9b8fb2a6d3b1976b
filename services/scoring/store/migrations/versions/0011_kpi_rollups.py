"""KPI rollups kept by the consumer (docs/kpis.md), and their backfill from the facts.

- ``kpi_customer_days``: a customer's active days with the day's counted orders; indexed by
  customer (merges, erasures) and, for the buyers' days only, by day;
- ``kpi_daily``: per tenant-local day and stripe (event partition), the sums a period adds up;
- ``kpi_first_orders``: each buyer's first counted order day, indexed by day (cohorts);
- ``kpi_surveys``: survey answers per customer, day, survey and score;
- ``customers_live_created``: the live customers by creation time (customers, new customers).

The upgrade fills the tables for every tenant from the facts already held
(``services.scoring.store.kpi_backfill``): on a tenant of 1 M customers, 5 M orders and 20 M active
customer-days it takes minutes (bench/kpis.py reports the figure). Run it, as ``patron up`` and the
Kubernetes Job do, before the new consumers start: increments applied by an old consumer between the
backfill and the rollout would be missing (``kpi_backfill.rebuild_tenant`` repairs a tenant online).

Revision ID: scoring_0011
Revises: scoring_0009
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from services.scoring.store.kpi_backfill import BACKFILL

revision = "scoring_0011"
down_revision = "scoring_0009"
branch_labels = None
depends_on = None

_UUID = pg.UUID(as_uuid=True)
_LIVE = sa.text("merged_into IS NULL AND erased_at IS NULL")
_DAILY = (
    "active_customers",
    "orders",
    "money_orders",
    "revenue_minor",
    "refunds_minor",
    "nps_promoters",
    "nps_passives",
    "nps_detractors",
    "csat_responses",
    "csat_satisfied",
    "csat_score_sum",
    "new_buyers",
    "wau_change",
    "mau_change",
)


def upgrade() -> None:
    op.create_table(
        "kpi_customer_days",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("orders", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "kpi_daily",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("stripe", sa.SmallInteger, primary_key=True),
        *(sa.Column(name, sa.BigInteger, nullable=False, server_default="0") for name in _DAILY),
    )
    op.create_table(
        "kpi_first_orders",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("first_day", sa.Date, nullable=False),
    )
    op.create_table(
        "kpi_surveys",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("survey", sa.Text, primary_key=True),
        sa.Column("score", sa.SmallInteger, primary_key=True),
        sa.Column("responses", sa.Integer, nullable=False),
    )
    connection = op.get_bind()
    tenants = connection.execute(
        sa.text("SELECT tenant_id, timezone, currency FROM tenants ORDER BY 1")
    ).all()
    for tenant_id, timezone, currency in tenants:
        for statement in BACKFILL:
            connection.execute(statement, {"t": tenant_id, "tz": timezone, "currency": currency.strip()})
    # indexes after the backfill: built once instead of row by row
    op.create_index("kpi_customer_days_by_customer", "kpi_customer_days", ["tenant_id", "customer_id", "day"])
    op.create_index(
        "kpi_customer_days_buyers",
        "kpi_customer_days",
        ["tenant_id", "day", "customer_id"],
        postgresql_include=["orders"],
        postgresql_where=sa.text("orders > 0"),
    )
    op.create_index("kpi_first_orders_by_day", "kpi_first_orders", ["tenant_id", "first_day"])
    op.create_index(
        "customers_live_created", "customers", ["tenant_id", "created_at"], postgresql_where=_LIVE
    )


def downgrade() -> None:
    op.drop_index("customers_live_created", table_name="customers")
    for table in ("kpi_surveys", "kpi_first_orders", "kpi_daily", "kpi_customer_days"):
        op.drop_table(table)

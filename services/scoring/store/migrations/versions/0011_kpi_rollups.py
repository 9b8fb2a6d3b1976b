"""KPI rollups kept by the consumer (docs/kpis.md), and their backfill from the facts.

- ``kpi_customer_days``: a customer's active days with the day's counted orders; indexed by
  customer (merges, erasures) and, for the buyers' days only, by day;
- ``kpi_daily``: per tenant-local day and stripe (event partition), the sums a period adds up;
- ``kpi_first_orders``: each buyer's first counted order day, indexed by day (cohorts);
- ``kpi_surveys``: survey answers per customer, day, survey and score;
- ``kpi_customers_changed``: a trigger on ``customers`` that keeps each day's live customers
  created (``kpi_daily.new_customers``) whichever handler creates, merges or erases one.

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
down_revision = "scoring_0010"
branch_labels = None
depends_on = None

_UUID = pg.UUID(as_uuid=True)
# A live customer (not merged away, not erased) counts on the tenant-local day it was created; a
# change of that (created, a provisional row's creation time set, merged, erased) moves one count,
# under the stripe of the customer's partition (hash of the id, as the outbox partitions by 16).
_TRIGGER_FUNCTION = """
CREATE FUNCTION kpi_customers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := coalesce(NEW.tenant_id, OLD.tenant_id);
    customer uuid := coalesce(NEW.customer_id, OLD.customer_id);
    zone text;
    was date;
    is_now date;
    part smallint;
BEGIN
    SELECT timezone INTO zone FROM tenants WHERE tenant_id = tenant;
    zone := coalesce(zone, 'Asia/Shanghai');
    IF TG_OP <> 'INSERT' AND OLD.merged_into IS NULL AND OLD.erased_at IS NULL THEN
        was := (OLD.created_at AT TIME ZONE zone)::date;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.merged_into IS NULL AND NEW.erased_at IS NULL THEN
        is_now := (NEW.created_at AT TIME ZONE zone)::date;
    END IF;
    IF was IS NOT DISTINCT FROM is_now THEN
        RETURN NULL;
    END IF;
    part := (('x' || left(replace(customer::text, '-', ''), 8))::bit(32)::bigint % 16)::smallint;
    IF was IS NOT NULL THEN
        INSERT INTO kpi_daily AS k (tenant_id, day, stripe, new_customers) VALUES (tenant, was, part, -1)
        ON CONFLICT (tenant_id, day, stripe) DO UPDATE SET new_customers = k.new_customers - 1;
    END IF;
    IF is_now IS NOT NULL THEN
        INSERT INTO kpi_daily AS k (tenant_id, day, stripe, new_customers) VALUES (tenant, is_now, part, 1)
        ON CONFLICT (tenant_id, day, stripe) DO UPDATE SET new_customers = k.new_customers + 1;
    END IF;
    RETURN NULL;
END
$$
"""
_DAILY = (
    "new_customers",
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
    op.execute(_TRIGGER_FUNCTION)
    op.execute(
        "CREATE TRIGGER kpi_customers AFTER INSERT OR DELETE OR UPDATE OF created_at, merged_into, "
        "erased_at ON customers FOR EACH ROW EXECUTE FUNCTION kpi_customers_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER kpi_customers ON customers")
    op.execute("DROP FUNCTION kpi_customers_changed()")
    for table in ("kpi_surveys", "kpi_first_orders", "kpi_daily", "kpi_customer_days"):
        op.drop_table(table)

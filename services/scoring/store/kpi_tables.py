"""Tables of scoring's KPI rollups (declared on the shared metadata; docs/kpis.md "How it is kept").

They are derived from the facts (``orders``, ``activity_daily``, ``behaviour_events``) and kept by
the consumer in the transaction that applies each fact, by increments, so a KPI over a year reads
a few thousand rollup rows or one index range instead of the facts. ``kpi_backfill`` rebuilds them
from the facts (the migration, and a tenant's rebuild); the tests hold the increments to it.

- ``kpi_customer_days``: one row per customer and tenant-local day the customer was **active** (a
  behaviour event or a paid order), with the day's counted orders (paid, not fully refunded): what
  distinct active customers, buyers and repeat buyers over any range are counted from.
- ``kpi_daily``: per tenant-local day and **stripe** (the event partition that wrote it, so two
  consumer replicas never wait on one row), the sums a period adds up: active customer-days,
  orders, money orders and revenue (tenant currency), refunds, survey answers, new buyers (first
  orders). A day's figure is the sum of its stripes.
- ``kpi_first_orders``: each buyer's first counted order day (cohorts, new buyers, lifetime buyers),
  and the days of all its counted orders in order (``order_days``, a day once per order).
- ``kpi_surveys``: survey answers per customer, day, survey and score: what an erasure takes back
  from ``kpi_daily`` (behaviour events with their properties are pruned; these are not).
- ``kpi_order_returns``: counted orders by day and the day of the customer's counted order one and
  two back (``back``), per stripe: a period's buyers and repeat buyers as sums (``kpi_sql``).
- ``kpi_returns``: customer-days counted by day and the customer's **previous active day**
  (``-infinity`` for a first one), per stripe: a period's distinct active customers are the sum over
  its days of those whose previous day is before it (``kpi_sql``).
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.scoring.store.tables import metadata

_UUID = pg.UUID(as_uuid=True)


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, nullable=False, server_default="0")


kpi_customer_days = sa.Table(
    "kpi_customer_days",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("orders", sa.Integer, nullable=False, server_default="0"),
    # a customer's days in order: a new day's neighbours, a merge (moved to the survivor), an erasure
    sa.Index("kpi_customer_days_by_customer", "tenant_id", "customer_id", "day"),
    # the buyers' days only (a fifth of the rows), with their orders: buyers, repeat buyers and
    # cohorts are read index-only
    sa.Index(
        "kpi_customer_days_buyers",
        "tenant_id",
        "day",
        "customer_id",
        postgresql_include=["orders"],
        postgresql_where=sa.text("orders > 0"),
    ),
)

kpi_daily = sa.Table(
    "kpi_daily",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("stripe", sa.SmallInteger, primary_key=True),
    # live customers created on the day, kept by a trigger on ``customers`` (migration scoring_0011)
    _count("new_customers"),
    _count("active_customers"),
    _count("orders"),
    _count("money_orders"),
    _count("revenue_minor"),
    _count("refunds_minor"),
    _count("nps_promoters"),
    _count("nps_passives"),
    _count("nps_detractors"),
    _count("csat_responses"),
    _count("csat_satisfied"),
    _count("csat_score_sum"),
    _count("new_buyers"),
    # the change of the weekly / monthly active customers on the day (kpi_sql: WAU and MAU as day sums)
    _count("wau_change"),
    _count("mau_change"),
)

kpi_first_orders = sa.Table(
    "kpi_first_orders",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("first_day", sa.Date, nullable=False),
    sa.Column("order_days", pg.ARRAY(sa.Date), nullable=False, server_default="{}"),
    sa.Index("kpi_first_orders_by_day", "tenant_id", "first_day"),
)

kpi_surveys = sa.Table(
    "kpi_surveys",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("survey", sa.Text, primary_key=True),
    sa.Column("score", sa.SmallInteger, primary_key=True),
    sa.Column("responses", sa.Integer, nullable=False),
)

kpi_returns = sa.Table(
    "kpi_returns",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("previous_day", sa.Date, primary_key=True),
    sa.Column("stripe", sa.SmallInteger, primary_key=True),
    sa.Column("customers", sa.Integer, nullable=False),
)

kpi_order_returns = sa.Table(
    "kpi_order_returns",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("back", sa.SmallInteger, primary_key=True),
    sa.Column("previous_day", sa.Date, primary_key=True),
    sa.Column("stripe", sa.SmallInteger, primary_key=True),
    sa.Column("orders", sa.Integer, nullable=False),
)

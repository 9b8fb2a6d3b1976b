"""The set-based SQL that turns a tenant's stored facts into features and scores.

One text serves both paths: the consumer re-scores the customers an event batch touched (each read
by an index probe of its own, ``probe_source``; the batch run's few missing customers by
``customer_id = ANY(:ids)``) and the batch run rebuilds every customer of the tenant (no scope); so
a rebuild and the incremental updates agree by construction. Every statement is bound to
one tenant (``:tenant_id``) and an ``:as_of`` local day of the tenant's time zone (``:tz``):

* facts up to the end of ``as_of`` (local) count; orders fully refunded do not count as orders;
* ``FEATURES`` gives one row per live customer (not merged away, not erased); spend and the
  average item price sum only orders in the tenant's currency (others count as orders, never as
  money: ``services.runtime.currencies``, docs/currencies.md);
* ``SCORES`` adds RFM scores and group (when baselines exist), price band, lifecycle stage and
  engagement to a features relation, from the parameters that ``score_parameters`` builds.

The rules are those of ``services.scoring.domain.rfm`` and ``services.scoring.domain.lifecycle``.
"""

from __future__ import annotations

import enum
import json
import uuid
from datetime import date
from typing import Any

from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.rfm import GROUPS

# The largest BIGINT. Money is summed exactly (numeric) and stored as BIGINT: a customer's sum passes
# it only after 9,223 orders at profile's per-order maximum (10^15 minor units), and then it is
# stored as this ceiling rather than failing the event (see docs/money-bounds.md).
BIGINT_MAX = 2**63 - 1
SCOPE_ALL = ""
SCOPE_IDS = "AND {alias}.customer_id = ANY(CAST(:ids AS uuid[]))"
# The distinct customers of ``:ids``, for ``probe_source``: a CTE of the statement that probes.
PROBE_IDS = "wanted AS MATERIALIZED (SELECT DISTINCT unnest(CAST(:ids AS uuid[])) AS customer_id)"

_FEATURES = """
WITH params AS (
    SELECT CAST(:as_of AS date) AS as_of,
           (CAST(:as_of AS date) + 1)::timestamp AT TIME ZONE :tz AS end_ts,
           (SELECT t.currency FROM tenants t WHERE t.tenant_id = :tenant_id) AS currency
),
pop AS (
    SELECT c.customer_id FROM {customers_c}
    WHERE c.tenant_id = :tenant_id AND c.merged_into IS NULL AND c.erased_at IS NULL {scope_c}
),
o AS (
    SELECT o.customer_id, o.order_id, o.paid_at,
           CASE WHEN o.currency = coalesce(p.currency, o.currency) THEN o.amount_minor - o.refunded_minor
                ELSE 0 END AS net,
           o.currency = coalesce(p.currency, o.currency) AS local,
           (o.paid_at AT TIME ZONE :tz)::date AS day,
           extract(hour FROM o.paid_at AT TIME ZONE :tz)::smallint AS hour,
           CASE WHEN e.coupon_used THEN 1.0 WHEN NOT e.coupon_used THEN 0.0 END AS coupon
    FROM {orders_o} CROSS JOIN params p
    LEFT JOIN order_extras e ON e.tenant_id = :tenant_id AND e.order_id = o.order_id
    WHERE o.tenant_id = :tenant_id AND o.paid_at < p.end_ts AND o.refunded_minor < o.amount_minor
      {scope_o}
),
oa AS (
    SELECT o.customer_id, min(o.paid_at) AS first_order_at, max(o.paid_at) AS last_order_at,
           count(*)::int AS order_count, {net_spend} AS net_spend_minor, max(o.day) AS last_day,
           count(*) FILTER (WHERE o.day > p.as_of - CAST(:window_days AS int))::int AS frequency,
           {monetary} AS monetary,
           coalesce(sum(power(0.5, (p.as_of - o.day) / CAST(:half_life AS float8)))
               FILTER (WHERE o.day > p.as_of - CAST(:lookback_days AS int)), 0) AS order_decay,
           {order_hours} AS order_hours, avg(o.coupon)::float8 AS coupon_share
    FROM o, params p GROUP BY o.customer_id
),
prev AS (
    SELECT o.customer_id,
           CASE WHEN count(*) FILTER (WHERE o.paid_at = oa.last_order_at) > 1 THEN max(oa.last_order_at)
                ELSE max(o.paid_at) FILTER (WHERE o.paid_at < oa.last_order_at) END AS prev_last_at
    FROM o JOIN oa ON oa.customer_id = o.customer_id AND oa.order_count > 1
    GROUP BY o.customer_id
),
lines AS MATERIALIZED (
    SELECT o.customer_id, i.category, i.brand, i.quantity, i.unit_price_minor, o.local
    FROM o JOIN order_items i ON i.tenant_id = :tenant_id AND i.order_id = o.order_id
),
item_sums AS (
    SELECT l.customer_id, l.category, l.brand, GROUPING(l.category, l.brand) AS g,
           sum(l.quantity) AS n
    FROM lines l
    WHERE (l.category <> '' OR l.brand <> '')
    GROUP BY GROUPING SETS ((l.customer_id, l.category), (l.customer_id, l.brand))
),
top_category AS (
    SELECT DISTINCT ON (customer_id) customer_id, category FROM item_sums
    WHERE g = 1 AND category <> '' ORDER BY customer_id, n DESC, category
),
top_brand AS (
    SELECT DISTINCT ON (customer_id) customer_id, brand FROM item_sums
    WHERE g = 2 AND brand <> '' ORDER BY customer_id, n DESC, brand
),
price AS (
    SELECT l.customer_id,
           (sum(l.unit_price_minor::numeric * l.quantity) / nullif(sum(l.quantity), 0))::bigint AS avg_price
    FROM lines l WHERE l.local GROUP BY l.customer_id
),
per_type AS (
    SELECT a.customer_id, a.event_type, max(a.last_at) AS last_at, {activity_windows}
    FROM {activity_daily_a}, params p
    WHERE a.tenant_id = :tenant_id AND a.day <= p.as_of {scope_a}
    GROUP BY a.customer_id, a.event_type
),
act AS (
    SELECT customer_id, max(last_at) AS last_at,
           jsonb_object_agg(event_type, last_at) AS last_activity,
           jsonb_object_agg(event_type, jsonb_build_array(c7, c30, c90)) FILTER (WHERE c90 > 0) AS counts,
           sum(decay) AS decay
    FROM per_type GROUP BY customer_id
),
act_hours AS (
    SELECT h.customer_id, {activity_hours} AS hours FROM {activity_hours_h}
    WHERE h.tenant_id = :tenant_id {scope_h} GROUP BY h.customer_id
)
SELECT pop.customer_id, p.as_of, oa.first_order_at, oa.last_order_at,
       coalesce(oa.order_count, 0) AS order_count, coalesce(oa.net_spend_minor, 0) AS net_spend_minor,
       CASE WHEN oa.order_count > 1
            THEN (extract(epoch FROM oa.last_order_at - oa.first_order_at) / 86400.0
                  / (oa.order_count - 1))::float8
       END AS mean_gap_days,
       (extract(epoch FROM oa.last_order_at - prev.prev_last_at) / 86400.0)::float8 AS last_gap_days,
       tc.category AS top_category, tb.brand AS top_brand, price.avg_price AS avg_unit_price_minor,
       oa.coupon_share,
       {active_hour} AS active_hour,
       greatest(oa.last_order_at, act.last_at) AS last_seen_at,
       coalesce(act.last_activity, '{{}}'::jsonb) AS last_activity,
       coalesce(act.counts, '{{}}'::jsonb) AS activity_counts,
       p.as_of - oa.last_day AS recency_days, oa.frequency, oa.monetary AS monetary_minor,
       coalesce(oa.order_decay, 0) * coalesce((CAST(:weights AS jsonb) ->> 'order')::float8, 0)
         + coalesce(act.decay, 0) AS engagement
FROM pop CROSS JOIN params p
LEFT JOIN oa ON oa.customer_id = pop.customer_id
LEFT JOIN prev ON prev.customer_id = pop.customer_id
LEFT JOIN top_category tc ON tc.customer_id = pop.customer_id
LEFT JOIN top_brand tb ON tb.customer_id = pop.customer_id
LEFT JOIN price ON price.customer_id = pop.customer_id
LEFT JOIN act ON act.customer_id = pop.customer_id
LEFT JOIN act_hours ah ON ah.customer_id = pop.customer_id
"""

# A customer's behaviour of one type (``activity_daily a``) counted over the last 7, 30 and 90 days
# before ``params p``'s day, and its engagement decay over the look-back, weighted by the type.
ACTIVITY_WINDOWS = """coalesce(sum(a.events) FILTER (WHERE a.day > p.as_of - 7), 0)::int AS c7,
           coalesce(sum(a.events) FILTER (WHERE a.day > p.as_of - 30), 0)::int AS c30,
           coalesce(sum(a.events) FILTER (WHERE a.day > p.as_of - 90), 0)::int AS c90,
           coalesce(sum(a.events * power(0.5, (p.as_of - a.day) / CAST(:half_life AS float8)))
               FILTER (WHERE a.day > p.as_of - CAST(:lookback_days AS int)), 0)
             * coalesce((CAST(:weights AS jsonb) ->> a.event_type)::float8, 0) AS decay"""

# Counts per local hour 0-23 as one array per customer: 24 filtered sums in the customer's own
# aggregate cost far less than a (customer, hour) aggregate with millions of groups. The usual
# hour is then the largest key count * 32 + (31 - hour) over the orders' and behaviour's counts
# added up: most events first, the earliest hour on ties; no hour when every count is 0.
_HOUR_ARRAY = (
    "ARRAY["
    + ", ".join(f"coalesce(sum({{value}}) FILTER (WHERE {{column}} = {h}), 0)::bigint" for h in range(24))
    + "]"
)
_HOUR_COUNT = "(coalesce(oa.order_hours[{i}], 0) + coalesce(ah.hours[{i}], 0))"
_HOUR_KEY = "greatest(" + ", ".join(f"{_HOUR_COUNT.format(i=h + 1)} * 32 + {31 - h}" for h in range(24)) + ")"
_ACTIVE_HOUR = f"CASE WHEN {_HOUR_KEY} >= 32 THEN (31 - {_HOUR_KEY} % 32)::smallint END"


def saturated(numeric_expression: str) -> str:
    """``numeric_expression`` (an exact numeric sum of money) as a BIGINT, capped at ``BIGINT_MAX``."""
    return f"least({numeric_expression}, {BIGINT_MAX})::bigint"


class Scope(enum.Enum):
    """Which customers ``features_sql`` reads, and how."""

    ALL = "all"  # every customer of the tenant (the batch run)
    IDS = "ids"  # the customers in ``:ids``, by ``customer_id = ANY(:ids)`` (a run's few missing ones)
    PROBE = "probe"  # the customers in ``wanted``, one index probe each (``probe_source``; the consumer)


def features_sql(scope: Scope) -> str:
    """The features select for ``scope``'s customers.

    ``Scope.PROBE`` is the consumer's form, whose cost must follow the batch, not the tenant; the
    enclosing statement then defines ``wanted`` (``PROBE_IDS``)."""

    def condition(alias: str) -> str:
        return SCOPE_IDS.format(alias=alias) if scope is Scope.IDS else SCOPE_ALL

    def source(table: str, alias: str) -> str:
        return probe_source(table, alias) if scope is Scope.PROBE else f"{table} {alias}"

    return _FEATURES.format(
        customers_c=source("customers", "c"),
        orders_o=source("orders", "o"),
        activity_daily_a=source("activity_daily", "a"),
        activity_hours_h=source("activity_hours", "h"),
        scope_c=condition("c"),
        scope_o=condition("o"),
        scope_a=condition("a"),
        scope_h=condition("h"),
        order_hours=_HOUR_ARRAY.format(value="1", column="o.hour"),
        activity_hours=_HOUR_ARRAY.format(value="h.events", column="h.hour"),
        active_hour=_ACTIVE_HOUR,
        net_spend=saturated("sum(o.net)"),
        monetary=windowed_monetary(),
        activity_windows=ACTIVITY_WINDOWS,
    )


def probe_source(table: str, alias: str) -> str:
    """``table``'s rows of the customers in ``wanted`` (``PROBE_IDS``) as relation ``alias``, fetched
    by one index probe on ``(tenant_id, customer_id)`` per customer.

    ``customer_id = ANY(:ids)`` leaves the choice of index condition to the planner, and a generic
    plan (the consumer's: ``rescoring``) takes the array for ten ids. For a small tenant it then
    scanned all the tenant's rows, testing each against every id of the array: 9 ms of a 22 ms
    re-scoring of 400 customers went to 1,600 ``activity_daily`` rows of 4,000 (docs/performance.md).
    A lateral subquery behind ``OFFSET 0`` (so that it is not flattened into a join) has one plan
    only, whatever the statistics: a probe per customer."""
    probe = (
        f"SELECT * FROM {table} x WHERE x.tenant_id = :tenant_id AND x.customer_id = {alias}_w.customer_id"  # noqa: S608 (constant names)
    )
    return f"wanted {alias}_w CROSS JOIN LATERAL ({probe} OFFSET 0) {alias}"


def windowed_monetary() -> str:
    """The net spend of orders ``o`` inside the RFM window (``params p``), capped like every sum."""
    return saturated("coalesce(sum(o.net) FILTER (WHERE o.day > p.as_of - CAST(:window_days AS int)), 0)")


def _cut_sum(column: str, cuts: str, comparison: str) -> str:
    return "1 + " + " + ".join(f"({column} {comparison} ({cuts})[{i}])::int" for i in range(1, 5))


def _group_expression() -> str:
    arms = []
    for g in GROUPS:
        r = "r_high" if g.r_high else "NOT r_high"
        f = "f_high" if g.f_high else "NOT f_high"
        m = "m_high" if g.m_high else "NOT m_high"
        arms.append(f"WHEN {r} AND {f} AND {m} THEN '{g.code}'")
    return "CASE " + " ".join(arms) + " END"


_SCORES = """
SELECT s.*,
       CASE WHEN s.order_count > 0 AND CAST(:has_rfm AS boolean) THEN {r_score} END AS r,
       CASE WHEN s.order_count > 0 AND CAST(:has_rfm AS boolean) THEN {f_score} END AS f,
       CASE WHEN s.order_count > 0 AND CAST(:has_rfm AS boolean) THEN {m_score} END AS m,
       CASE WHEN s.order_count > 0 AND CAST(:has_rfm AS boolean) THEN {group_case} END AS rfm_group,
       CASE WHEN s.avg_unit_price_minor IS NULL OR cardinality(CAST(:price_cuts AS float8[])) <> 2 THEN NULL
            WHEN s.avg_unit_price_minor < (CAST(:price_cuts AS float8[]))[1] THEN 'budget'
            WHEN s.avg_unit_price_minor >= (CAST(:price_cuts AS float8[]))[2] THEN 'premium'
            ELSE 'mid' END AS price_band,
       CASE WHEN s.order_count = 0 THEN 'acquisition'
            WHEN idle > churn_limit THEN 'churned'
            WHEN idle > decline_limit THEN 'decline'
            WHEN s.order_count >= CAST(:mature_orders AS int) THEN 'mature'
            ELSE 'growth' END AS stage,
       CASE WHEN s.order_count = 0 THEN 'no paid order'
            WHEN idle > churn_limit
              THEN format('idle %s d > churn limit %s d', idle, round(churn_limit::numeric, 1))
            WHEN idle > decline_limit
              THEN format('idle %s d > decline limit %s d', idle, round(decline_limit::numeric, 1))
            WHEN s.order_count >= CAST(:mature_orders AS int)
              THEN format('%s orders >= %s', s.order_count, CAST(:mature_orders AS int))
            ELSE format('%s orders < %s', s.order_count, CAST(:mature_orders AS int)) END AS stage_reason
FROM (
    SELECT f.*,
           f.recency_days < CAST(:r_split AS float8) AS r_high,
           f.frequency > CAST(:f_split AS float8) AS f_high,
           f.monetary_minor > CAST(:m_split AS float8) AS m_high,
           f.as_of - (f.last_seen_at AT TIME ZONE :tz)::date AS idle,
           CASE WHEN f.order_count >= 2
                THEN CAST(:decline_multiple AS float8)
                     * greatest(f.mean_gap_days, CAST(:min_gap_days AS float8))
                ELSE CAST(:decline_days AS float8) END AS decline_limit,
           CASE WHEN f.order_count >= 2
                THEN CAST(:churn_multiple AS float8)
                     * greatest(f.mean_gap_days, CAST(:min_gap_days AS float8))
                ELSE CAST(:churn_days AS float8) END AS churn_limit
    FROM {features} f
) s
"""

SCORE_COLUMNS = (
    "customer_id, as_of, first_order_at, last_order_at, order_count, net_spend_minor, mean_gap_days, "
    "last_gap_days, top_category, top_brand, avg_unit_price_minor, price_band, coupon_share, "
    "active_hour, last_seen_at, last_activity, activity_counts, recency_days, frequency, "
    "monetary_minor, r, f, m, rfm_group, stage, stage_reason, engagement"
)


def scores_sql(features: str) -> str:
    """The scores select over ``features`` (a table name or a parenthesised select with an alias)."""
    return _SCORES.format(
        features=features,
        r_score=_cut_sum("s.recency_days", "CAST(:r_cuts AS float8[])", "<"),
        f_score=_cut_sum("s.frequency", "CAST(:f_cuts AS float8[])", ">"),
        m_score=_cut_sum("s.monetary_minor", "CAST(:m_cuts AS float8[])", ">"),
        group_case=_group_expression(),
    )


def feature_parameters(
    tenant_id: uuid.UUID, timezone: str, as_of: date, config: ScoringConfig
) -> dict[str, Any]:
    """Bound parameters of ``features_sql`` (add ``ids`` for the scoped form)."""
    return {
        "tenant_id": tenant_id,
        "tz": timezone,
        "as_of": as_of,
        "window_days": config.rfm_window_days,
        "lookback_days": config.engagement_lookback_days,
        "half_life": float(config.engagement_half_life_days),
        "weights": json.dumps(dict(config.engagement_weights)),
    }


def score_parameters(timezone: str, config: ScoringConfig, baseline: dict[str, Any] | None) -> dict[str, Any]:
    """Bound parameters of ``scores_sql``: the lifecycle settings and the tenant's baselines (none:
    RFM and price band stay empty until the first batch run computes them)."""
    return {
        "tz": timezone,
        "has_rfm": baseline is not None,
        "r_cuts": list(baseline["r_cuts"]) if baseline else [0.0] * 4,
        "f_cuts": list(baseline["f_cuts"]) if baseline else [0.0] * 4,
        "m_cuts": list(baseline["m_cuts"]) if baseline else [0.0] * 4,
        "r_split": float(baseline["r_split"]) if baseline else 0.0,
        "f_split": float(baseline["f_split"]) if baseline else 0.0,
        "m_split": float(baseline["m_split"]) if baseline else 0.0,
        "price_cuts": list(baseline["price_cuts"]) if baseline else [],
        "mature_orders": config.mature_orders,
        "decline_days": config.decline_days,
        "churn_days": config.churn_days,
        "decline_multiple": config.decline_gap_multiple,
        "churn_multiple": config.churn_gap_multiple,
        "min_gap_days": config.min_gap_days,
    }

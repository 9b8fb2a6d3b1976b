"""The batch run's features from the stored scores plus a pass over the recent facts only.

Most of a customer's features do not depend on the run's day: the first and last order, the order
count and net spend, the gaps, the top category and brand, the average item price, the coupon share,
the usual hour, the last activity per type. The consumer recomputes them from the raw facts for
every customer an event touches, in the same transaction as the facts (``store.rescoring``), so the
customer's ``customer_scores`` row always holds them as of the latest fact. What moves with the day
is only what is counted in a window: recency, frequency and monetary in the RFM window, the
engagement decay over its look-back, and the 7/30/90-day behaviour counts.

The daily statement therefore takes the day-independent columns from the stored rows and reads only
the orders and behaviour days inside the longest window, instead of joining and grouping every order
and item line of the tenant (docs/scoring.md "The daily run"). Its columns are exactly those of
``score_sql.features_sql``, and a run that uses it must give the same features as the full statement
(tests/test_scoring_daily_features.py compares them on random histories). The run falls back to the
full statement when the stored rows cannot be trusted (``store.batch``): the first run of a tenant,
a changed time zone, currency or feature definition (``FEATURES_VERSION``; the three make the
``tenant_baselines.features_key`` of the last full run), a backdated run, or more than
``MAX_MISSING_ROWS`` customers without a row.
"""

from __future__ import annotations

from services.scoring.store.score_sql import ACTIVITY_WINDOWS, windowed_monetary

# Bumped whenever the day-independent features are defined differently, so that the next run of
# every tenant recomputes them from the facts instead of carrying the old definition forward.
FEATURES_VERSION = 1

# Customers without a stored row, at most, that the daily statement computes from the facts by id
# (the scoped form of the full statement); beyond this the run recomputes everyone from the facts.
MAX_MISSING_ROWS = 10_000

_DAILY_FEATURES = """
WITH params AS (
    SELECT CAST(:as_of AS date) AS as_of,
           (CAST(:as_of AS date) + 1)::timestamp AT TIME ZONE :tz AS end_ts,
           (CAST(:as_of AS date) + 1
               - greatest(CAST(:window_days AS int), CAST(:lookback_days AS int)))::timestamp
               AT TIME ZONE :tz AS start_ts,
           (SELECT t.currency FROM tenants t WHERE t.tenant_id = :tenant_id) AS currency
),
recent AS (
    SELECT o.customer_id,
           count(*) FILTER (WHERE o.day > p.as_of - CAST(:window_days AS int))::int AS frequency,
           {monetary} AS monetary,
           coalesce(sum(power(0.5, (p.as_of - o.day) / CAST(:half_life AS float8)))
               FILTER (WHERE o.day > p.as_of - CAST(:lookback_days AS int)), 0) AS order_decay
    FROM (
        SELECT o.customer_id, (o.paid_at AT TIME ZONE :tz)::date AS day,
               CASE WHEN o.currency = coalesce(p.currency, o.currency)
                    THEN o.amount_minor - o.refunded_minor ELSE 0 END AS net
        FROM orders o CROSS JOIN params p
        WHERE o.tenant_id = :tenant_id AND o.paid_at >= p.start_ts AND o.paid_at < p.end_ts
          AND o.refunded_minor < o.amount_minor
    ) o CROSS JOIN params p
    GROUP BY o.customer_id
),
per_type AS (
    SELECT a.customer_id, a.event_type, {activity_windows}
    FROM activity_daily a, params p
    WHERE a.tenant_id = :tenant_id AND a.day <= p.as_of
      AND a.day > p.as_of - greatest(90, CAST(:lookback_days AS int))
    GROUP BY a.customer_id, a.event_type
),
act AS (
    SELECT customer_id,
           jsonb_object_agg(event_type, jsonb_build_array(c7, c30, c90)) FILTER (WHERE c90 > 0) AS counts,
           sum(decay) AS decay
    FROM per_type GROUP BY customer_id
)
SELECT s.customer_id, p.as_of, s.first_order_at, s.last_order_at, s.order_count, s.net_spend_minor,
       s.mean_gap_days, s.last_gap_days, s.top_category, s.top_brand, s.avg_unit_price_minor,
       s.coupon_share, s.active_hour, s.last_seen_at, s.last_activity,
       coalesce(act.counts, '{{}}'::jsonb) AS activity_counts,
       p.as_of - (s.last_order_at AT TIME ZONE :tz)::date AS recency_days,
       CASE WHEN s.order_count > 0 THEN coalesce(r.frequency, 0) END AS frequency,
       CASE WHEN s.order_count > 0 THEN coalesce(r.monetary, 0) END AS monetary_minor,
       coalesce(r.order_decay, 0) * coalesce((CAST(:weights AS jsonb) ->> 'order')::float8, 0)
         + coalesce(act.decay, 0) AS engagement
FROM customer_scores s
JOIN customers c ON c.tenant_id = :tenant_id AND c.customer_id = s.customer_id
    AND c.merged_into IS NULL AND c.erased_at IS NULL
CROSS JOIN params p
LEFT JOIN recent r ON r.customer_id = s.customer_id
LEFT JOIN act ON act.customer_id = s.customer_id
WHERE s.tenant_id = :tenant_id
"""

# Live customers without a stored row: computed from the facts by the scoped full statement.
MISSING_ROWS = """
SELECT c.customer_id FROM customers c
WHERE c.tenant_id = :tenant_id AND c.merged_into IS NULL AND c.erased_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM customer_scores s
                  WHERE s.tenant_id = :tenant_id AND s.customer_id = c.customer_id)
LIMIT :limit
"""


def daily_features_sql() -> str:
    """The features of every live customer that has a stored row (see the module docstring)."""
    return _DAILY_FEATURES.format(monetary=windowed_monetary(), activity_windows=ACTIVITY_WINDOWS)

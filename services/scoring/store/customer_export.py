"""Scoring's part of a customer's export (``GET /v1/customers/{id}/export`` → ``scoring``) and its
erasure status: what scoring keeps of the customer (its projection of the attributes a segment may
test, tier and points, tags and consents), the grades it computed (features, RFM, lifecycle stage,
engagement), the predictions, the segments the customer is in and the tags scoring wrote, and the
facts it computed them from (orders, refunds, behaviour). Read by ``runtime.privacy_store``."""

from __future__ import annotations

import sqlalchemy as sa

from services.runtime.database import Database
from services.runtime.privacy_store import SectionExport
from services.scoring.store.tables import customer_erasures

# Objects are the customer's own row (the first of :customers); lists span everyone merged into it.
_CUSTOMER = sa.text(
    """
    SELECT customer_id, created_at, registration_channel, device, gender, province, city, birthday,
           registered_at, timezone, updated_at
    FROM customers WHERE tenant_id = :tenant AND customer_id = (CAST(:customers AS uuid[]))[1]
    """
)
_SCORES = sa.text(
    """
    SELECT as_of, first_order_at, last_order_at, order_count, net_spend_minor, mean_gap_days,
           last_gap_days, top_category, top_brand, avg_unit_price_minor, price_band, coupon_share,
           active_hour, last_seen_at, last_activity, activity_counts, recency_days, frequency,
           monetary_minor, r, f, m, rfm_group, stage AS lifecycle_stage, stage_reason AS lifecycle_reason,
           engagement, updated_at
    FROM customer_scores WHERE tenant_id = :tenant AND customer_id = (CAST(:customers AS uuid[]))[1]
    """
)
_PREDICTIONS = sa.text(
    """
    SELECT as_of, p_alive, expected_purchases_30d, expected_avg_spend_minor, clv_minor
    FROM predictions WHERE tenant_id = :tenant AND customer_id = (CAST(:customers AS uuid[]))[1]
    """
)
_LOYALTY = sa.text(
    """
    SELECT tier, points, updated_at
    FROM audience_loyalty WHERE tenant_id = :tenant AND customer_id = (CAST(:customers AS uuid[]))[1]
    """
)
_COMPUTED_TAGS = sa.text(
    """
    SELECT tag_keys, written_at
    FROM computed_tags WHERE tenant_id = :tenant AND customer_id = (CAST(:customers AS uuid[]))[1]
    """
)
_SEGMENTS = sa.text(
    """
    SELECT m.segment_id, s.name AS segment_name, m.version, m.entered_at
    FROM segment_members AS m
    JOIN segments AS s ON s.tenant_id = m.tenant_id AND s.segment_id = m.segment_id
    WHERE m.tenant_id = :tenant AND m.customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY m.entered_at, m.segment_id
    """
)
_TAGS = sa.text(
    """
    SELECT customer_id, tag_id, expires_at
    FROM audience_tags WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY tag_id
    """
)
_CONSENTS = sa.text(
    """
    SELECT customer_id, channel, purpose, granted, changed_at
    FROM audience_consents WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY channel, purpose
    """
)
_ORDERS = sa.text(
    """
    SELECT o.order_id, o.customer_id, o.paid_at, o.currency, o.amount_minor, o.refunded_minor,
           x.coupon_used, x.channel
    FROM orders AS o
    LEFT JOIN order_extras AS x ON x.tenant_id = o.tenant_id AND x.order_id = o.order_id
    WHERE o.tenant_id = :tenant AND o.customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY o.paid_at, o.order_id
    """
)
_ORDER_ITEMS = sa.text(
    """
    SELECT i.order_id, i.line, i.category, i.brand, i.unit_price_minor, i.quantity
    FROM order_items AS i
    JOIN orders AS o ON o.tenant_id = i.tenant_id AND o.order_id = i.order_id
    WHERE o.tenant_id = :tenant AND o.customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY o.paid_at, i.order_id, i.line
    """
)
_ORDER_REFUNDS = sa.text(
    """
    SELECT r.order_id, r.refund_id, r.amount_minor, r.refunded_at, r.reason
    FROM order_refunds AS r
    JOIN orders AS o ON o.tenant_id = r.tenant_id AND o.order_id = r.order_id
    WHERE o.tenant_id = :tenant AND o.customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY r.refunded_at, r.refund_id
    """
)
_ACTIVITY = sa.text(
    """
    SELECT customer_id, event_type, day, events, last_at
    FROM activity_daily WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY day, event_type
    """
)
_HOURS = sa.text(
    """
    SELECT customer_id, hour, events
    FROM activity_hours WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY hour
    """
)
_BEHAVIOUR = sa.text(
    """
    SELECT event_id, customer_id, event_type, occurred_at, properties
    FROM behaviour_events WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY occurred_at, event_id
    """
)


def scoring_privacy(database: Database) -> SectionExport:
    """Scoring's :class:`services.runtime.privacy.PrivacyPort`."""
    return SectionExport(
        "scoring",
        database,
        customer_erasures,
        objects={
            "customer": _CUSTOMER,
            "scores": _SCORES,
            "predictions": _PREDICTIONS,
            "loyalty": _LOYALTY,
            "computed_tags": _COMPUTED_TAGS,
        },
        lists={
            "segments": _SEGMENTS,
            "tags": _TAGS,
            "consents": _CONSENTS,
            "orders": _ORDERS,
            "order_items": _ORDER_ITEMS,
            "order_refunds": _ORDER_REFUNDS,
            "activity_daily": _ACTIVITY,
            "activity_hours": _HOURS,
            "behaviour_events": _BEHAVIOUR,
        },
    )

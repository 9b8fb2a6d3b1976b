"""Loyalty's part of a customer's export (``GET /v1/customers/{id}/export`` → ``loyalty``) and its
erasure status: the points (balance and debt), every ledger entry, what is left of each earning and
when it expires, the points of each order, sign-ins, the membership with its tier history and the
facts that move it, and the coupons with their templates. Read by ``runtime.privacy_store``."""

from __future__ import annotations

import sqlalchemy as sa

from services.loyalty.store.tables import customer_erasures
from services.runtime.database import Database
from services.runtime.privacy_store import SectionExport

_POINTS = sa.text(
    """
    SELECT CAST(coalesce(sum(balance), 0) AS bigint) AS balance,
           CAST(coalesce(sum(debt), 0) AS bigint) AS debt
    FROM point_accounts
    WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[])) AND merged_into IS NULL
    """
)
_MEMBERSHIP = sa.text(
    """
    SELECT customer_id, tier_code AS tier, tier_since, next_review_at, grace_until, created_at, updated_at
    FROM memberships WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY updated_at DESC LIMIT 1
    """
)
_LEDGER = sa.text(
    """
    SELECT entry_id, customer_id, type, delta, balance_after, reason, source, program_version,
           occurred_at, created_at
    FROM point_entries WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY seq
    """
)
_LOTS = sa.text(
    """
    SELECT lot_id, customer_id, earned, remaining, earned_at, expires_at
    FROM point_lots WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY earned_at, lot_id
    """
)
_ORDERS = sa.text(
    """
    SELECT order_id, customer_id, amount_minor, earned, refunded_minor, reversed, paid_at
    FROM order_points WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY paid_at, order_id
    """
)
_SIGN_INS = sa.text(
    """
    SELECT customer_id, local_date, streak, points_awarded, created_at
    FROM sign_ins WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY local_date
    """
)
_TIER_HISTORY = sa.text(
    """
    SELECT customer_id, from_tier, to_tier, direction, reason, metric, value, program_version, changed_at
    FROM tier_history WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY change_id
    """
)
_MEMBERSHIP_FACTS = sa.text(
    """
    SELECT customer_id, kind, order_id, occurred_at, spend_minor, orders, growth, recorded_at
    FROM membership_facts WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY fact_id
    """
)
_COUPONS = sa.text(
    """
    SELECT c.code, c.customer_id, c.template_id, t.name AS template_name, t.kind AS template_kind,
           c.source, c.status, c.valid_from, c.valid_until, c.issued_at, c.redeemed_at, c.order_id,
           c.order_amount_minor, c.discount_minor
    FROM coupons AS c
    JOIN coupon_templates AS t ON t.tenant_id = c.tenant_id AND t.template_id = c.template_id
    WHERE c.tenant_id = :tenant AND c.customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY c.issued_at, c.code
    """
)


def loyalty_privacy(database: Database) -> SectionExport:
    """Loyalty's :class:`services.runtime.privacy.PrivacyPort`."""
    return SectionExport(
        "loyalty",
        database,
        customer_erasures,
        objects={"points": _POINTS, "membership": _MEMBERSHIP},
        lists={
            "ledger": _LEDGER,
            "point_lots": _LOTS,
            "order_points": _ORDERS,
            "sign_ins": _SIGN_INS,
            "tier_history": _TIER_HISTORY,
            "membership_facts": _MEMBERSHIP_FACTS,
            "coupons": _COUPONS,
        },
    )

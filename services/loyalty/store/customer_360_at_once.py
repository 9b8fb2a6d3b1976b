"""Loyalty's whole 360 part in one statement on the hot pool: the customer resolved, its balance,
membership, window sums and newest available coupons, all in one snapshot and one round trip.

The transactional path (``customer_360_reads`` and the balance read) costs about ten round trips
through SQLAlchemy, and each round trip, not the work in PostgreSQL, was most of the part's CPU.
The programme comes from the in-process cache; the statement answers the tenant's current
programme version, and a part read under an older one is thrown away (the cache entry with it) and
read again the transactional way. So is the part of a customer loyalty's projection has not seen
yet: only the transactional path asks profile about it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from services.loyalty.domain.coupons import Coupon
from services.loyalty.domain.ledger import Balance
from services.loyalty.domain.tiers import MembershipView, MemberState, Progress, describe, window_start
from services.loyalty.store.coupon_templates import coupon_from_row
from services.loyalty.store.fast_moves import BALANCE_COLUMNS, BALANCE_FROM, survivor_balance
from services.loyalty.store.programs import ProgramCache
from services.runtime.database import Database
from services.runtime.hot_pool import HotConnections, HotPathClosed
from services.runtime.paging import Page, encode_cursor

# A coupon's columns as each record of the coupons array carries them, in this order.
_COUPON_FIELDS = (
    "code",
    "template_id",
    "customer_id",
    "kind",
    "source",
    "status",
    "valid_from",
    "valid_until",
    "issued_at",
    "redeemed_at",
    "order_id",
    "discount_minor",
    "order_amount_minor",
)
_COUPON_ROW = ", ".join(f"k.{name}" for name in _COUPON_FIELDS)

# $1 tenant, $2 customer, $3 expiring until, $4 now, $5 window start (exclusive), $6 coupons + 1
_PART_AT_ONCE = f"""
    SELECT {BALANCE_COLUMNS},
           (SELECT coalesce(max(p.version), 0) FROM loyalty_programs AS p WHERE p.tenant_id = $1)
               AS program_version,
           m.customer_id IS NOT NULL AS member, m.tier_code, m.tier_since, m.next_review_at,
           m.grace_until,
           f.spend, f.orders, f.growth,
           (
               SELECT array_agg(ROW({_COUPON_ROW}) ORDER BY k.issued_at DESC, k.code DESC)
               FROM (
                   SELECT o.*, t.kind FROM coupons AS o
                   JOIN coupon_templates AS t
                     ON t.tenant_id = o.tenant_id AND t.template_id = o.template_id
                   WHERE o.tenant_id = $1 AND o.customer_id = c.survivor AND o.status = 'issued'
                     AND o.valid_from <= $4 AND o.valid_until > $4
                   ORDER BY o.issued_at DESC, o.code DESC LIMIT $6
               ) AS k
           ) AS coupons
    FROM {BALANCE_FROM}
    LEFT JOIN memberships AS m ON m.tenant_id = $1 AND m.customer_id = c.survivor
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(x.spend_minor), 0) AS spend, coalesce(sum(x.orders), 0) AS orders,
               coalesce(sum(x.growth), 0) AS growth
        FROM membership_facts AS x
        WHERE x.tenant_id = $1 AND x.customer_id = c.survivor AND x.occurred_at > $5
          AND x.occurred_at <= $4
    ) AS f
"""  # noqa: S608 - the balance fragments and coupon columns are constants


def _coupons_page(rows: list[tuple[Any, ...]], limit: int) -> Page[Coupon]:
    """As ``page_from_rows`` over the transactional path's rows: the extra row says more follow."""
    named = [dict(zip(_COUPON_FIELDS, row, strict=True)) for row in rows]
    last = named[limit - 1] if len(named) > limit else None
    cursor = encode_cursor([last["issued_at"].isoformat(), last["code"]]) if last else None
    return Page([coupon_from_row(SimpleNamespace(**row), row["kind"]) for row in named[:limit]], cursor)


class LoyaltyPartAtOnce:
    """Reads loyalty's 360 part in one statement; None whenever the transactional path must."""

    def __init__(self, database: Database, hot: HotConnections, programs: ProgramCache) -> None:
        self._database = database
        self._hot = hot
        self._programs = programs

    async def read(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        now: datetime,
        expiring_days: int,
        coupon_limit: int,
    ) -> tuple[uuid.UUID, Balance, MembershipView, Page[Coupon]] | None:
        """The survivor, its balance, membership and first page of available coupons; NotFound
        for an erased customer; None for one the projection has not seen, a programme changed
        since it was cached, or a hot pool that is closing."""
        program = (await self._programs.get(self._database, tenant_id)).program
        try:
            row = await self._hot.fetchrow(
                _PART_AT_ONCE,
                tenant_id,
                customer_id,
                now + timedelta(days=expiring_days),
                now,
                window_start(now, program.ladder),
                coupon_limit + 1,
            )
        except HotPathClosed:
            return None
        if row is None:
            return None
        survivor, balance = survivor_balance(row)  # NotFound for an erased customer
        if row["program_version"] != program.version:
            self._programs.invalidate(tenant_id)
            return None
        state = (
            MemberState(row["tier_code"], row["tier_since"], row["next_review_at"], row["grace_until"])
            if row["member"]
            else None
        )
        view = describe(program, state, Progress(int(row["spend"]), int(row["orders"]), int(row["growth"])))
        return survivor, balance, view, _coupons_page(list(row["coupons"] or []), coupon_limit)

"""Loyalty's part of the customer 360: points, membership and the newest available coupons.

The 360 asks every service for its part at once, so each part should cost as few connections and
round trips as it can. The balance is one statement on the hot pool (as ``PointsDesk.balance``);
the membership and the coupons share one transaction, which resolves the customer once, where the
separate endpoints' use cases each open their own.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from services.loyalty.domain.coupons import Coupon
from services.loyalty.domain.customers import parse_customer_id
from services.loyalty.domain.ledger import Balance
from services.loyalty.domain.points_desk import PointsDesk
from services.loyalty.domain.tiers import MembershipView
from services.runtime.concurrency import first_failure_raised
from services.runtime.paging import Page, page_size


@dataclass(frozen=True)
class LoyaltyPart:
    """The customer's balance, membership and available coupons (each answering for the live
    customer of a merged-away id), with the time the coupons' status is as of."""

    balance_customer: uuid.UUID
    balance: Balance
    member: uuid.UUID
    membership: MembershipView
    coupons: Page[Coupon]
    now: datetime


class MemberReads(Protocol):
    async def membership_and_coupons(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime, coupon_limit: int
    ) -> tuple[uuid.UUID, MembershipView, Page[Coupon]]:
        """In one transaction: the live customer, its membership as of ``now`` and its newest
        ``coupon_limit`` available coupons; NotFound for an unknown or erased customer."""
        ...


class Customer360Desk:
    """Loyalty's 360 part for the calling tenant."""

    def __init__(self, points: PointsDesk, reads: MemberReads) -> None:
        self._points = points
        self._reads = reads

    async def part(
        self, tenant_id: uuid.UUID, customer_id: str, expiring_days: int, coupon_limit: int
    ) -> LoyaltyPart:
        """Both reads at once; any failure fails the part (the gateway marks it degraded)."""
        size = page_size(coupon_limit)
        customer = parse_customer_id(customer_id)
        now = datetime.now(UTC)
        (balance_customer, balance), (member, membership, coupons) = first_failure_raised(
            await asyncio.gather(
                self._points.balance(tenant_id, customer_id, expiring_days),
                self._reads.membership_and_coupons(tenant_id, customer, now, size),
                return_exceptions=True,
            )
        )
        return LoyaltyPart(balance_customer, balance, member, membership, coupons, now)

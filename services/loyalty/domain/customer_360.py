"""Loyalty's part of the customer 360: points, membership and the newest available coupons.

The 360 asks every service for its part at once, so each part should cost as few connections and
round trips as it can. The whole part is first read in one statement (``PartAtOnce``); when that
cannot answer (a customer loyalty's projection has not seen yet, a programme changed since it was
cached), the balance is read as ``PointsDesk.balance`` reads it, and the membership and the coupons
share one transaction, which resolves the customer once.
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
from services.loyalty.domain.points_desk import expiring_days as points_expiring_days
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


class PartAtOnce(Protocol):
    async def read(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        now: datetime,
        expiring_days: int,
        coupon_limit: int,
    ) -> tuple[uuid.UUID, Balance, MembershipView, Page[Coupon]] | None:
        """The live customer, its balance, membership and newest available coupons in one read;
        NotFound for an erased customer; None when the step-by-step reads must answer."""
        ...


class Customer360Desk:
    """Loyalty's 360 part for the calling tenant."""

    def __init__(self, points: PointsDesk, reads: MemberReads, at_once: PartAtOnce) -> None:
        self._points = points
        self._reads = reads
        self._at_once = at_once

    async def part(
        self, tenant_id: uuid.UUID, customer_id: str, expiring_days: int, coupon_limit: int
    ) -> LoyaltyPart:
        """One read when it can answer, else the two reads at once; any failure fails the part
        (the gateway marks it degraded)."""
        size = page_size(coupon_limit)
        days = points_expiring_days(expiring_days, "expiring_days")
        customer = parse_customer_id(customer_id)
        now = datetime.now(UTC)
        whole = await self._at_once.read(tenant_id, customer, now, days, size)
        if whole is not None:
            survivor, balance, membership, coupons = whole
            return LoyaltyPart(survivor, balance, survivor, membership, coupons, now)
        (balance_customer, balance), (member, membership, coupons) = first_failure_raised(
            await asyncio.gather(
                self._points.balance(tenant_id, customer_id, expiring_days),
                self._reads.membership_and_coupons(tenant_id, customer, now, size),
                return_exceptions=True,
            )
        )
        return LoyaltyPart(balance_customer, balance, member, membership, coupons, now)

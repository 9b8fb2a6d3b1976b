"""Implements ``services.loyalty.domain.coupon_work.CouponWork``: one transaction of the coupon
store for one tenant, its statements in ``coupon_issuing``, ``coupon_redemptions`` and the ledger."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.coupon_work import LockedCoupon, NewCoupon
from services.loyalty.domain.coupons import Coupon, CouponTemplate
from services.loyalty.domain.ledger import LedgerResult
from services.loyalty.store import coupon_issuing, coupon_redemptions
from services.loyalty.store.coupon_templates import get_template
from services.loyalty.store.customer_directory import CustomerDirectory
from services.loyalty.store.ledger import spend_points
from services.runtime.events.outbox import Outbox


class SqlCouponWork:
    """The coupon statements of one tenant, bound to one open transaction."""

    def __init__(
        self, connection: AsyncConnection, outbox: Outbox, directory: CustomerDirectory, tenant_id: uuid.UUID
    ) -> None:
        self._connection = connection
        self._outbox = outbox
        self._directory = directory
        self._tenant_id = tenant_id

    async def customer(self, customer_id: uuid.UUID) -> uuid.UUID:
        return await self._directory.resolve(self._connection, self._tenant_id, customer_id)

    async def template(self, template_id: str) -> CouponTemplate:
        return await get_template(
            self._connection, self._tenant_id, template_id, body_field="template_id", lock=True
        )

    async def issued_under_key(self, issue_key: str, kind: str) -> Coupon | None:
        return await coupon_issuing.issued_under_key(self._connection, self._tenant_id, issue_key, kind)

    async def insert(self, coupon: NewCoupon) -> Coupon | None:
        return await coupon_issuing.insert_coupon(self._connection, self._tenant_id, coupon)

    async def hold(self, template_id: uuid.UUID, customer_id: uuid.UUID, limit: int) -> bool:
        return await coupon_issuing.hold_one(
            self._connection, self._tenant_id, template_id, customer_id, limit
        )

    async def spend_budget(self, template_id: uuid.UUID) -> bool:
        return await coupon_issuing.spend_budget(self._connection, self._tenant_id, template_id)

    async def announce_issued(self, coupon: Coupon) -> None:
        await self._outbox.append(self._connection, [coupon_issuing.issued_event(self._tenant_id, coupon)])

    async def spend_points(
        self, customer_id: uuid.UUID, points: int, reason: str, source: str, idempotency_key: str
    ) -> LedgerResult:
        return await spend_points(
            self._connection,
            self._outbox,
            tenant_id=self._tenant_id,
            customer_id=customer_id,
            points=points,
            reason=reason,
            source=source,
            idempotency_key=idempotency_key,
        )

    async def record_payment(self, code: str, entry_id: uuid.UUID) -> None:
        await coupon_issuing.record_payment(self._connection, self._tenant_id, code, entry_id)

    async def lock(self, code: str) -> LockedCoupon | None:
        return await coupon_redemptions.lock_coupon(self._connection, self._tenant_id, code)

    async def has_other_order(self, customer_id: uuid.UUID, order_id: str) -> bool:
        return await coupon_redemptions.has_other_order(
            self._connection, self._tenant_id, customer_id, order_id
        )

    async def mark_redeemed(
        self, coupon: Coupon, order_id: str, amount_minor: int, discount_minor: int, now: datetime
    ) -> Coupon:
        return await coupon_redemptions.mark_redeemed(
            self._connection,
            self._tenant_id,
            coupon,
            order_id=order_id,
            amount_minor=amount_minor,
            discount_minor=discount_minor,
            now=now,
        )

    async def announce_redeemed(self, coupon: Coupon, currency: str) -> None:
        event = coupon_redemptions.redeemed_event(self._tenant_id, coupon, currency)
        await self._outbox.append(self._connection, [event])

"""The coupon use cases: templates, issuing, exchanging points, a customer's list, redeeming.

The store is a protocol so that these rules never see SQL; ``services.loyalty.store.coupons``
implements it: template reads and writes and a customer's list each in one transaction, and a
transaction (``CouponWork``) in which ``domain.coupon_work`` issues, exchanges or redeems. A
customer id names the customer it resolves to in that transaction: a merged-away id acts on the
survivor; an id that is no UUID, unknown, erased or another tenant's is NOT_FOUND.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Protocol

from services.loyalty.domain.as_of import AsOf
from services.loyalty.domain.coupon_batches import (
    BatchItem,
    BatchOutcome,
    CouponBatchWork,
    HoldingsMoved,
    issue_batch,
    validate_batch,
)
from services.loyalty.domain.coupon_work import CouponWork, exchange_points, issue_coupon, redeem_coupon
from services.loyalty.domain.coupons import (
    COUPON_STATUSES,
    Coupon,
    CouponTemplate,
    Exchanged,
    Issued,
    Redemption,
    TemplateSpec,
    normalise_code,
    scoped_key,
    validate_redemption,
    validate_template,
)
from services.loyalty.domain.customers import parse_customer_id
from services.loyalty.domain.errors import IdempotencyRace
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.paging import Page, page_size

_BATCH_ATTEMPTS = 3


class CouponStore(Protocol):
    def transaction(self, tenant_id: uuid.UUID) -> AbstractAsyncContextManager[CouponWork]:
        """One transaction of the tenant's coupon statements, committed when the block ends."""
        ...

    def batch(self, tenant_id: uuid.UUID) -> AbstractAsyncContextManager[CouponBatchWork]:
        """One transaction of a batch of issues, committed when the block ends."""
        ...

    async def create_template(self, tenant_id: uuid.UUID, spec: TemplateSpec) -> CouponTemplate: ...

    async def get_template(self, tenant_id: uuid.UUID, template_id: str) -> CouponTemplate: ...

    async def templates_page(self, tenant_id: uuid.UUID, limit: int, cursor: str) -> Page[CouponTemplate]: ...

    async def customer_coupons(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        status: str | None,
        now: datetime,
        limit: int,
        cursor: str,
    ) -> Page[Coupon]: ...


class CouponDesk:
    """Coupon templates and coupons of a tenant. A client's idempotency key is stored scoped to
    the operation (``issue`` / ``exchange``), hashed, so keys can never collide across them."""

    def __init__(self, store: CouponStore) -> None:
        self._store = store

    async def create_template(self, tenant_id: uuid.UUID, spec: TemplateSpec) -> CouponTemplate:
        """Store a template once its rules hold (validity is judged against the current time)."""
        return await self._store.create_template(tenant_id, validate_template(spec, datetime.now(UTC)))

    async def template(self, tenant_id: uuid.UUID, template_id: str) -> CouponTemplate:
        """The tenant's template; NotFound when unknown or another tenant's."""
        return await self._store.get_template(tenant_id, template_id)

    async def templates(self, tenant_id: uuid.UUID, limit: int, cursor: str) -> Page[CouponTemplate]:
        """The tenant's templates, newest first."""
        return await self._store.templates_page(tenant_id, page_size(limit), cursor)

    async def issue(
        self, tenant_id: uuid.UUID, customer_id: str, template_id: str, idempotency_key: str
    ) -> AsOf[Issued]:
        """Issue one coupon within the template's limits; the same key again answers the first."""
        key = scoped_key("issue", idempotency_key) if idempotency_key else None
        now = datetime.now(UTC)
        customer = parse_customer_id(customer_id)
        async with self._store.transaction(tenant_id) as work:
            issued = await issue_coupon(
                work,
                customer_id=await work.customer(customer),
                template=await work.template(template_id),
                issue_key=key,
                source="api",
                now=now,
            )
        return AsOf(issued, now)

    async def issue_many(self, tenant_id: uuid.UUID, items: list[BatchItem]) -> AsOf[list[BatchOutcome]]:
        """Issue a batch in one transaction, each item as ``issue`` would in request order. A merge
        that moves holdings under the batch rolls it back; it is tried again on what is there."""
        validate_batch(items)
        for attempt in range(_BATCH_ATTEMPTS):
            now = datetime.now(UTC)
            try:
                async with self._store.batch(tenant_id) as work:
                    outcomes = await issue_batch(work, items, now)
                return AsOf(outcomes, now)
            except HoldingsMoved:
                if attempt == _BATCH_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def exchange(
        self, tenant_id: uuid.UUID, customer_id: str, template_id: str, idempotency_key: str
    ) -> AsOf[Exchanged]:
        """Buy a coupon with points. When a concurrent request with the same key booked first,
        the exchange is tried once more, which answers that request's result."""
        key = idempotency_key or uuid.uuid4().hex
        customer = parse_customer_id(customer_id)
        try:
            exchanged = await self._exchange(tenant_id, customer, template_id, key)
        except IdempotencyRace:
            exchanged = await self._exchange(tenant_id, customer, template_id, key)
        return AsOf(exchanged, datetime.now(UTC))

    async def _exchange(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, template_id: str, key: str
    ) -> Exchanged:
        async with self._store.transaction(tenant_id) as work:
            return await exchange_points(
                work,
                customer_id=await work.customer(customer_id),
                template=await work.template(template_id),
                idempotency_key=key,
                now=datetime.now(UTC),
            )

    async def customer_coupons(
        self, tenant_id: uuid.UUID, customer_id: str, status: str, limit: int, cursor: str
    ) -> AsOf[Page[Coupon]]:
        """The customer's coupons, newest first, optionally of one status as of now."""
        if status and status not in COUPON_STATUSES:
            raise InvalidArgument.single("status", f"must be one of {', '.join(COUPON_STATUSES)}")
        size = page_size(limit)
        now = datetime.now(UTC)
        customer = parse_customer_id(customer_id)
        page = await self._store.customer_coupons(tenant_id, customer, status or None, now, size, cursor)
        return AsOf(page, now)

    async def redeem(
        self, tenant_id: uuid.UUID, code: str, order_id: str, amount_minor: int
    ) -> AsOf[Redemption]:
        """Redeem a coupon on an order, exactly once; a code that cannot be one is NOT_FOUND."""
        validate_redemption(order_id, amount_minor)
        normalised = normalise_code(code)
        if not normalised:
            raise NotFound("coupon not found")
        now = datetime.now(UTC)
        async with self._store.transaction(tenant_id) as work:
            redemption = await redeem_coupon(
                work, code=normalised, order_id=order_id, amount_minor=amount_minor, now=now
            )
        return AsOf(redemption, now)

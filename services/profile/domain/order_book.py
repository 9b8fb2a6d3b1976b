"""The order use cases: record a paid order, refund it, read it, list a customer's orders.

The store is a protocol so that these rules never see SQL; ``services.profile.store.orders``
implements it. The rules an order and a refund must meet are in ``services.profile.domain.orders``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from services.profile.domain.customers import CustomerAttributes
from services.profile.domain.directory import CustomerDirectory, TenantRegistry
from services.profile.domain.order_rules import (
    is_well_formed_id,
    judge_refund,
    validate_order,
    validate_refund,
)
from services.profile.domain.orders import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    NewOrder,
    NewRefund,
    Order,
    OrderCursor,
    OrderPage,
    OrderRequest,
    OrderTerms,
    RecordedOrder,
    RecordedRefund,
    RefundAttempt,
    RefundRequest,
    order_status,
)
from services.runtime.errors import Conflict, InvalidArgument, NotFound


class OrderStore(Protocol):
    """Where orders live; ``record`` and ``refund`` are each one transaction with their event."""

    def fingerprint(self, tenant_id: uuid.UUID, canonical: str) -> bytes: ...

    async def get(self, tenant_id: uuid.UUID, order_id: str) -> Order | None: ...

    async def record(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, order: NewOrder, fingerprint: bytes
    ) -> RecordedOrder | None: ...

    async def refund(
        self,
        tenant_id: uuid.UUID,
        refund: NewRefund,
        fingerprint: bytes,
        judge: Callable[[OrderTerms], None],
    ) -> RefundAttempt | None: ...

    async def live_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> uuid.UUID | None: ...

    async def list_for_customer(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, limit: int, after: OrderCursor | None
    ) -> OrderPage: ...


class OrderBook:
    """Paid orders and their refunds, recorded once however often they are sent."""

    def __init__(self, store: OrderStore, directory: CustomerDirectory, tenants: TenantRegistry) -> None:
        self._store = store
        self._directory = directory
        self._tenants = tenants

    @staticmethod
    def _replay(order: Order, fingerprint: bytes) -> RecordedOrder:
        if order.fingerprint != fingerprint:
            raise Conflict(
                f"order {order.order_id} was already recorded with a different body",
                reason="ORDER_ID_REUSED",
                metadata={"order_id": order.order_id},
            )
        return RecordedOrder(order, created=False)

    async def record(self, tenant_id: uuid.UUID, request: OrderRequest) -> RecordedOrder:
        """Record a paid order (and emit order.paid), or answer the one already under its id.

        Everything is validated before anything is written. A known order id is answered without
        resolving identities again, so a retry never creates a customer.
        """
        tenant = await self._tenants.get(tenant_id)
        order = validate_order(request, tenant.default_region, datetime.now(UTC))
        fingerprint = self._store.fingerprint(tenant_id, order.canonical)
        existing = await self._store.get(tenant_id, order.order_id)
        if existing is not None:
            return self._replay(existing, fingerprint)
        customer_id = order.customer_id
        if customer_id is None:
            identified = await self._directory.identify(tenant_id, request.identities, CustomerAttributes())
            customer_id = identified.customer_id
        recorded = await self._store.record(tenant_id, customer_id, order, fingerprint)
        if recorded is None:
            raise InvalidArgument.single("customer_id", "no such customer")
        if recorded.created:
            return recorded
        return self._replay(recorded.order, fingerprint)  # lost a race to an identical or other body

    async def refund(self, tenant_id: uuid.UUID, request: RefundRequest) -> RecordedRefund:
        """Refund part or all of what is left of an order (and emit order.refunded), once per id."""
        if not is_well_formed_id(request.order_id):
            raise NotFound("order not found")
        refund = validate_refund(request, datetime.now(UTC))
        fingerprint = self._store.fingerprint(tenant_id, refund.canonical)
        attempt = await self._store.refund(
            tenant_id, refund, fingerprint, lambda terms: judge_refund(refund, terms)
        )
        if attempt is None:
            raise NotFound("order not found")
        if not attempt.created and attempt.fingerprint != fingerprint:
            raise Conflict(
                f"refund {refund.refund_id} of order {refund.order_id} was already recorded "
                "with a different body",
                reason="REFUND_ID_REUSED",
                metadata={"order_id": refund.order_id, "refund_id": refund.refund_id},
            )
        terms = attempt.terms
        return RecordedRefund(
            attempt.refund,
            attempt.created,
            order_status(terms.amount_minor, terms.refunded_minor),
            terms.amount_minor,
            terms.refunded_minor,
        )

    async def get(self, tenant_id: uuid.UUID, order_id: str) -> Order:
        """The order with its items and refunds; unknown and another tenant's ids are not found."""
        order = await self._store.get(tenant_id, order_id) if is_well_formed_id(order_id) else None
        if order is None:
            raise NotFound("order not found")
        return order

    async def list_for_customer(
        self, tenant_id: uuid.UUID, customer_id: str, limit: int, cursor: str
    ) -> OrderPage:
        """A customer's orders, newest paid first, a page at a time.

        A merged-away customer id lists the survivor's orders, as reading that customer answers the survivor.
        """
        if limit == 0:
            limit = DEFAULT_PAGE_SIZE
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidArgument.single("limit", f"must be from 1 to {MAX_PAGE_SIZE}")
        after = OrderCursor.decode(cursor) if cursor else None
        try:
            parsed = uuid.UUID(customer_id)
        except ValueError:
            raise NotFound("customer not found") from None
        live = await self._store.live_customer(tenant_id, parsed)
        if live is None:
            raise NotFound("customer not found")
        return await self._store.list_for_customer(tenant_id, live, limit, after)

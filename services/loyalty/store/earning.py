"""Implements ``services.loyalty.domain.earning_flow.EarningWork``: earning's statements in the
caller's transaction (the events consumer's), for the use cases in ``domain/earning_flow``.

- ``order_points`` holds one row per order that earned here: claimed with ``ON CONFLICT DO
  NOTHING`` (so an order earns once), locked ``FOR UPDATE`` while a refund is decided.
- ``daily_awards`` counts a customer's review and share points per tenant-local day; reading it is
  an upsert, so the day's row is locked before the cap is checked.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.earning_flow import ClaimedOrder, OrderClaim
from services.loyalty.domain.ledger import Clawback, LedgerResult, Movement
from services.loyalty.store import ledger
from services.runtime.events.outbox import Outbox

logger = logging.getLogger(__name__)

# Paid orders that earned no points, by why (docs/currencies.md): counted when the order is claimed.
UNEARNED_ORDERS = Counter(
    "patron_loyalty_orders_unearned_total", "paid orders that earned no points, by reason", ["reason"]
)

_CLAIM_ORDER = sa.text(
    """
    INSERT INTO order_points (tenant_id, order_id, customer_id, amount_minor, earned, paid_at, lot_id)
    VALUES (:tenant_id, :order_id, :customer_id, :amount_minor, :earned, :paid_at, :lot_id)
    ON CONFLICT (tenant_id, order_id) DO NOTHING
    RETURNING order_id
    """
)
_ORDER_FOR_REFUND = sa.text(
    "SELECT customer_id, amount_minor, earned, refunded_minor, reversed, lot_id FROM order_points "
    "WHERE tenant_id = :tenant_id AND order_id = :order_id FOR UPDATE"
)
_RECORD_REFUND = sa.text(
    "UPDATE order_points SET refunded_minor = :refunded, reversed = reversed + :due "
    "WHERE tenant_id = :tenant_id AND order_id = :order_id"
)
_DAILY_AWARD = sa.text(
    """
    INSERT INTO daily_awards AS d (tenant_id, customer_id, local_date, source, points)
    VALUES (:tenant_id, :customer_id, :day, :source, 0)
    ON CONFLICT (tenant_id, customer_id, local_date, source) DO UPDATE SET points = d.points
    RETURNING points
    """
)
_ADD_AWARD = sa.text(
    "UPDATE daily_awards SET points = points + :points WHERE tenant_id = :tenant_id "
    "AND customer_id = :customer_id AND local_date = :day AND source = :source"
)


class SqlEarningWork:
    """Earning's statements, bound to one open transaction and the outbox its movements announce in."""

    def __init__(self, connection: AsyncConnection, outbox: Outbox) -> None:
        self._connection = connection
        self._outbox = outbox

    async def claim_order(self, tenant_id: uuid.UUID, claim: OrderClaim) -> bool:
        claimed = (
            await self._connection.execute(
                _CLAIM_ORDER,
                {
                    "tenant_id": tenant_id,
                    "order_id": claim.order_id,
                    "customer_id": claim.customer_id,
                    "amount_minor": claim.amount_minor,
                    "earned": claim.earned,
                    "paid_at": claim.paid_at,
                    "lot_id": claim.lot_id,
                },
            )
        ).first()
        return claimed is not None

    async def note_unearned(self, tenant_id: uuid.UUID, order_id: str, reason: str) -> None:
        UNEARNED_ORDERS.labels(reason=reason).inc()
        logger.info("order %s of tenant %s earned no points: %s", order_id, tenant_id, reason)

    async def credit(self, movement: Movement, points: int, expires_at: datetime | None) -> LedgerResult:
        return await ledger.credit(self._connection, self._outbox, movement, points, expires_at)

    async def claimed_order(self, tenant_id: uuid.UUID, order_id: str) -> ClaimedOrder | None:
        row = (
            await self._connection.execute(_ORDER_FOR_REFUND, {"tenant_id": tenant_id, "order_id": order_id})
        ).first()
        if row is None:
            return None
        return ClaimedOrder(
            customer_id=row.customer_id,
            amount_minor=int(row.amount_minor),
            earned=int(row.earned),
            refunded_minor=int(row.refunded_minor),
            reversed=int(row.reversed),
            lot_id=row.lot_id,
        )

    async def record_refund(self, tenant_id: uuid.UUID, order_id: str, refunded_minor: int, due: int) -> None:
        await self._connection.execute(
            _RECORD_REFUND,
            {"tenant_id": tenant_id, "order_id": order_id, "refunded": refunded_minor, "due": due},
        )

    async def take_back(self, movement: Movement, points: int, prefer: uuid.UUID | None) -> Clawback:
        return await ledger.take_back(self._connection, self._outbox, movement, points, prefer=prefer)

    async def awarded_today(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, day: date, kind: str) -> int:
        params = {"tenant_id": tenant_id, "customer_id": customer_id, "day": day, "source": kind}
        return int((await self._connection.execute(_DAILY_AWARD, params)).scalar_one())

    async def add_award(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, day: date, kind: str, points: int
    ) -> None:
        params = {"tenant_id": tenant_id, "customer_id": customer_id, "day": day, "source": kind}
        await self._connection.execute(_ADD_AWARD, {**params, "points": points})

"""Order and refund queries: each write is one transaction with its event in the outbox.

Idempotency rests on the primary keys: an order is inserted with ON CONFLICT DO NOTHING, so of two
racing identical calls one inserts and the other reads what it inserted; a refund takes the order's
row lock first, so refunds of one order are judged one at a time and can never together exceed it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import profile_events_pb2
from services.profile.domain.orders import (
    MAX_LINES_PER_PAGE,
    NewOrder,
    NewRefund,
    Order,
    OrderCursor,
    OrderLine,
    OrderPage,
    OrderTerms,
    RecordedOrder,
    Refund,
    RefundAttempt,
    order_status,
)
from services.profile.store import merges, privacy
from services.profile.store.merges import resolve_survivor
from services.profile.store.order_tables import order_items, order_refunds, orders
from services.profile.store.pii import PiiCipher
from services.runtime.database import Database
from services.runtime.events.outbox import NewEvent, Outbox

_FINGERPRINT_KIND = "order_request"
# All of an order's items in one statement of eight parameters: its plan is prepared once, where a
# multi-row VALUES of up to 500 rows would be compiled anew for every order size.
_INSERT_ITEMS = sa.text(
    """
    INSERT INTO order_items (tenant_id, order_id, line_no, sku, category, brand, unit_price_minor, quantity)
    SELECT CAST(:tenant AS uuid), CAST(:order_id AS text), line.*
      FROM unnest(CAST(:line_nos AS integer[]), CAST(:skus AS text[]), CAST(:categories AS text[]),
                  CAST(:brands AS text[]), CAST(:prices AS bigint[]), CAST(:quantities AS integer[])) AS line
    """
)


def _line(row: Any) -> OrderLine:
    return OrderLine(row.sku, row.category, row.brand, row.unit_price_minor, row.quantity)


def _refund(row: Any, currency: str) -> Refund:
    return Refund(row.refund_id, row.amount_minor, currency, row.reason, row.refunded_at, row.created_at)


def paid_event(tenant_id: uuid.UUID, customer_id: uuid.UUID, order: NewOrder) -> NewEvent:
    """order.paid for a newly recorded order (shared by the single and the batch path)."""
    payload = profile_events_pb2.OrderPaid(
        order_id=order.order_id,
        currency=order.currency,
        amount_minor=order.amount_minor,
        items=[
            profile_events_pb2.OrderItem(
                sku=i.sku,
                category=i.category or "",
                brand=i.brand or "",
                unit_price_minor=i.unit_price_minor,
                quantity=i.quantity,
            )
            for i in order.items
        ],
        coupon_code=order.coupon_code or "",
        channel=order.channel or "",
    )
    payload.paid_at.FromDatetime(order.paid_at)
    return NewEvent(tenant_id, "order.paid", customer_id, payload, occurred_at=order.paid_at)


def refunded_event(
    tenant_id: uuid.UUID, customer_id: uuid.UUID, refund: NewRefund, currency: str, fully_refunded: bool
) -> NewEvent:
    """order.refunded for a newly recorded refund (shared by the single and the batch path)."""
    payload = profile_events_pb2.OrderRefunded(
        order_id=refund.order_id,
        refund_id=refund.refund_id,
        amount_minor=refund.amount_minor,
        currency=currency,
        reason=refund.reason or "",
        fully_refunded=fully_refunded,
    )
    payload.refunded_at.FromDatetime(refund.refunded_at)
    return NewEvent(tenant_id, "order.refunded", customer_id, payload, occurred_at=refund.refunded_at)


class SqlOrderStore:
    """Implements ``OrderStore`` on the profile database."""

    def __init__(self, database: Database, cipher: PiiCipher, outbox: Outbox) -> None:
        self._database = database
        self._cipher = cipher
        self._outbox = outbox

    def fingerprint(self, tenant_id: uuid.UUID, canonical: str) -> bytes:
        """A keyed digest of a request body: bodies may carry a phone number, so no plain hash."""
        return self._cipher.blind_index(tenant_id, _FINGERPRINT_KIND, canonical)

    async def get(self, tenant_id: uuid.UUID, order_id: str) -> Order | None:
        """The order with its items and refunds, or None."""
        async with self._database.read() as connection:
            found = await self._load(connection, tenant_id, [order_id])
        return found[0] if found else None

    async def live_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> uuid.UUID | None:
        """The customer (or its survivor) in this tenant, or None."""
        async with self._database.read() as connection:
            return await resolve_survivor(connection, tenant_id, customer_id)

    async def record(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, order: NewOrder, fingerprint: bytes
    ) -> RecordedOrder | None:
        """Insert the order, its items and order.paid; when the id is taken, the order under it.

        None when the customer does not exist in this tenant or was erased. The order belongs to the
        survivor when ``customer_id`` was merged away. The customer's row stays locked until commit, so
        a merge or an erasure running meanwhile waits and then moves or erases this order too.
        """
        async with self._database.transaction() as connection:
            owner = await resolve_survivor(connection, tenant_id, customer_id, lock="key_share")
            if owner is None:
                return None
            inserted = (
                await connection.execute(
                    pg.insert(orders)
                    .values(
                        tenant_id=tenant_id,
                        order_id=order.order_id,
                        customer_id=owner,
                        paid_at=order.paid_at,
                        currency=order.currency,
                        amount_minor=order.amount_minor,
                        coupon_code=order.coupon_code,
                        channel=order.channel,
                        item_count=len(order.items),
                        request_hash=fingerprint,
                    )
                    .on_conflict_do_nothing(index_elements=[orders.c.tenant_id, orders.c.order_id])
                    .returning(orders.c.created_at, orders.c.updated_at)
                )
            ).first()
            if inserted is None:
                # Taken: by an earlier call, or by a racing one whose commit this insert waited for.
                existing = await self._load(connection, tenant_id, [order.order_id])
                return RecordedOrder(existing[0], created=False) if existing else None
            items = order.items
            await connection.execute(
                _INSERT_ITEMS,
                {
                    "tenant": tenant_id,
                    "order_id": order.order_id,
                    "line_nos": list(range(1, len(items) + 1)),
                    "skus": [i.sku for i in items],
                    "categories": [i.category for i in items],
                    "brands": [i.brand for i in items],
                    "prices": [i.unit_price_minor for i in items],
                    "quantities": [i.quantity for i in items],
                },
            )
            await self._outbox.append(connection, [paid_event(tenant_id, owner, order)])
        recorded = Order(
            order_id=order.order_id,
            customer_id=owner,
            paid_at=order.paid_at,
            currency=order.currency,
            amount_minor=order.amount_minor,
            refunded_minor=0,
            status=order_status(order.amount_minor, 0),
            items=order.items,
            coupon_code=order.coupon_code,
            channel=order.channel,
            refunds=(),
            created_at=inserted.created_at,
            updated_at=inserted.updated_at,
            fingerprint=fingerprint,
        )
        return RecordedOrder(recorded, created=True)

    async def refund(
        self,
        tenant_id: uuid.UUID,
        refund: NewRefund,
        fingerprint: bytes,
        judge: Callable[[OrderTerms], None],
    ) -> RefundAttempt | None:
        """Record a refund and order.refunded under the order's row lock, or find the one under its id.

        ``judge`` applies the domain's rules to the locked order and raises to refuse (nothing is
        written then). None when the order does not exist in this tenant.
        """
        async with self._database.transaction() as connection:
            row = (
                await connection.execute(
                    sa.select(orders)
                    .where(orders.c.tenant_id == tenant_id, orders.c.order_id == refund.order_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                return None
            terms = OrderTerms(
                row.currency, row.paid_at, row.amount_minor, row.refunded_minor, row.refund_count
            )
            existing = (
                await connection.execute(
                    sa.select(order_refunds).where(
                        order_refunds.c.tenant_id == tenant_id,
                        order_refunds.c.order_id == refund.order_id,
                        order_refunds.c.refund_id == refund.refund_id,
                    )
                )
            ).first()
            if existing is not None:
                return RefundAttempt(terms, _refund(existing, row.currency), False, existing.request_hash)
            judge(terms)
            created_at = (
                await connection.execute(
                    sa.insert(order_refunds)
                    .values(
                        tenant_id=tenant_id,
                        order_id=refund.order_id,
                        refund_id=refund.refund_id,
                        amount_minor=refund.amount_minor,
                        reason=refund.reason,
                        refunded_at=refund.refunded_at,
                        request_hash=fingerprint,
                    )
                    .returning(order_refunds.c.created_at)
                )
            ).scalar_one()
            refunded_minor = row.refunded_minor + refund.amount_minor
            status = order_status(row.amount_minor, refunded_minor)
            await connection.execute(
                sa.update(orders)
                .where(orders.c.tenant_id == tenant_id, orders.c.order_id == refund.order_id)
                .values(
                    refunded_minor=refunded_minor,
                    refund_count=orders.c.refund_count + 1,
                    status=status,
                    updated_at=sa.func.now(),
                )
            )
            event = refunded_event(
                tenant_id, row.customer_id, refund, row.currency, refunded_minor == row.amount_minor
            )
            await self._outbox.append(connection, [event])
        recorded = Refund(
            refund.refund_id, refund.amount_minor, row.currency, refund.reason, refund.refunded_at, created_at
        )
        after = OrderTerms(row.currency, row.paid_at, row.amount_minor, refunded_minor, row.refund_count + 1)
        return RefundAttempt(after, recorded, True, fingerprint)

    async def list_for_customer(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, limit: int, after: OrderCursor | None
    ) -> OrderPage:
        """A page of the customer's orders, newest paid first, after ``after``.

        The page also ends once its orders hold ``MAX_LINES_PER_PAGE`` items and refunds (it always
        holds at least one order), so that one page never grows past a few megabytes.
        """
        query = (
            sa.select(orders.c.order_id, orders.c.paid_at, orders.c.item_count, orders.c.refund_count)
            .where(orders.c.tenant_id == tenant_id, orders.c.customer_id == customer_id)
            .order_by(orders.c.paid_at.desc(), orders.c.order_id.desc())
            .limit(limit + 1)
        )
        if after is not None:
            query = query.where(
                sa.tuple_(orders.c.paid_at, orders.c.order_id) < (after.paid_at, after.order_id)
            )
        async with self._database.read() as connection:
            rows = (await connection.execute(query)).all()
            more = len(rows) > limit
            kept: list[Any] = []
            lines = 0
            for row in rows[:limit]:
                lines += row.item_count + row.refund_count
                if kept and lines > MAX_LINES_PER_PAGE:
                    more = True
                    break
                kept.append(row)
            page = await self._load(connection, tenant_id, [row.order_id for row in kept])
        next_cursor = OrderCursor(kept[-1].paid_at, kept[-1].order_id).encode() if more and kept else None
        return OrderPage(page, next_cursor)

    @staticmethod
    async def _load(
        connection: AsyncConnection, tenant_id: uuid.UUID, order_ids: Sequence[str]
    ) -> list[Order]:
        """Orders with their items and refunds, in the order of ``order_ids`` (three queries in all)."""
        if not order_ids:
            return []
        ids = list(order_ids)
        order_rows = (
            await connection.execute(
                sa.select(orders).where(orders.c.tenant_id == tenant_id, orders.c.order_id.in_(ids))
            )
        ).all()
        if not order_rows:
            return []
        item_rows = (
            await connection.execute(
                sa.select(order_items)
                .where(order_items.c.tenant_id == tenant_id, order_items.c.order_id.in_(ids))
                .order_by(order_items.c.order_id, order_items.c.line_no)
            )
        ).all()
        refund_rows = (
            await connection.execute(
                sa.select(order_refunds)
                .where(order_refunds.c.tenant_id == tenant_id, order_refunds.c.order_id.in_(ids))
                .order_by(order_refunds.c.order_id, order_refunds.c.created_at, order_refunds.c.refund_id)
            )
        ).all()
        items: dict[str, list[OrderLine]] = {}
        for item in item_rows:
            items.setdefault(item.order_id, []).append(_line(item))
        refunds: dict[str, list[Any]] = {}
        for refund in refund_rows:
            refunds.setdefault(refund.order_id, []).append(refund)
        by_id = {row.order_id: row for row in order_rows}
        return [
            Order(
                order_id=row.order_id,
                customer_id=row.customer_id,
                paid_at=row.paid_at,
                currency=row.currency,
                amount_minor=row.amount_minor,
                refunded_minor=row.refunded_minor,
                status=row.status,
                items=tuple(items.get(row.order_id, ())),
                coupon_code=row.coupon_code,
                channel=row.channel,
                refunds=tuple(_refund(r, row.currency) for r in refunds.get(row.order_id, ())),
                created_at=row.created_at,
                updated_at=row.updated_at,
                fingerprint=row.request_hash,
            )
            for order_id in ids
            if (row := by_id.get(order_id)) is not None
        ]


# ---- merge, erasure, export (run by services.profile.store.merges / .privacy) ----------------------

# A merged customer's orders belong to the survivor (order ids are the tenant's, so they never clash).
merges.REPOINT_STATEMENTS.append(
    sa.text(
        "UPDATE orders SET customer_id = CAST(:survivor AS uuid), updated_at = now() "
        "WHERE tenant_id = :tenant AND customer_id = ANY(:merged)"
    )
)
# Erasure keeps the orders (merchants must keep their sales records; an order holds no personal
# data and now belongs to an anonymous customer id) but clears the refund reasons, which are free text.
privacy.ERASE_STATEMENTS.append(
    sa.text(
        "UPDATE order_refunds r SET reason = NULL FROM orders o "
        "WHERE o.tenant_id = r.tenant_id AND o.order_id = r.order_id "
        "AND o.tenant_id = :tenant AND o.customer_id = ANY(:customers)"
    )
)
privacy.EXPORT_QUERIES["orders"] = sa.text(
    "SELECT order_id, paid_at, currency, amount_minor, refunded_minor, status, coupon_code, channel, "
    "created_at FROM orders WHERE tenant_id = :tenant AND customer_id = ANY(:customers) "
    "ORDER BY paid_at, order_id"
)
privacy.EXPORT_QUERIES["order_items"] = sa.text(
    "SELECT i.order_id, i.sku, i.category, i.brand, i.unit_price_minor, i.quantity "
    "FROM order_items i JOIN orders o ON o.tenant_id = i.tenant_id AND o.order_id = i.order_id "
    "WHERE o.tenant_id = :tenant AND o.customer_id = ANY(:customers) "
    "ORDER BY o.paid_at, i.order_id, i.line_no"
)
privacy.EXPORT_QUERIES["order_refunds"] = sa.text(
    "SELECT r.order_id, r.refund_id, r.amount_minor, o.currency, r.reason, r.refunded_at "
    "FROM order_refunds r JOIN orders o ON o.tenant_id = r.tenant_id AND o.order_id = r.order_id "
    "WHERE o.tenant_id = :tenant AND o.customer_id = ANY(:customers) "
    "ORDER BY r.refunded_at, r.order_id, r.refund_id"
)

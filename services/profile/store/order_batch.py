"""Batch order and refund queries: a whole batch in a fixed number of statements, one transaction.

Orders: the referenced customers are held FOR KEY SHARE (one statement, as a single order does), the
orders go in with one ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING RETURNING``, their
items with one more, and every ``order.paid`` with one outbox append. Rows go in order-id order, so
two batches sharing ids wait for each other rather than deadlock; the loser of such a race reads the
winner's fingerprint and answers duplicate or conflict.

Refunds: the orders concerned are locked FOR UPDATE in id order (one statement), the refunds already
recorded under the batch's ids are read in one more, the batch is judged in memory against the
locked amounts, then one insert, one update and one outbox append.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.profile.domain.order_batch import (
    OrderBatchWrite,
    PlacedOrder,
    PlacedRefund,
    RefundJudge,
    RefundVerdict,
)
from services.profile.domain.orders import OrderTerms, order_status
from services.profile.store.merges import resolve_survivors
from services.profile.store.orders import SqlOrderStore, paid_event, refunded_event
from services.runtime.database import Database
from services.runtime.errors import FieldViolation
from services.runtime.events.outbox import NewEvent, Outbox

_FINGERPRINTS = sa.text(
    "SELECT order_id, request_hash FROM orders WHERE tenant_id = :tenant AND order_id = ANY(:ids)"
)
_INSERT_ORDERS = sa.text(
    """
    INSERT INTO orders (tenant_id, order_id, customer_id, paid_at, currency, amount_minor, coupon_code,
                        channel, item_count, request_hash)
    SELECT CAST(:tenant AS uuid), o.order_id, o.customer_id, o.paid_at, o.currency, o.amount_minor,
           o.coupon_code, o.channel, o.item_count, o.request_hash
      FROM unnest(CAST(:order_ids AS text[]), CAST(:customer_ids AS uuid[]),
                  CAST(:paid_ats AS timestamptz[]), CAST(:currencies AS text[]),
                  CAST(:amounts AS bigint[]), CAST(:coupons AS text[]), CAST(:channels AS text[]),
                  CAST(:item_counts AS integer[]), CAST(:hashes AS bytea[]))
           AS o(order_id, customer_id, paid_at, currency, amount_minor, coupon_code, channel,
                item_count, request_hash)
     ORDER BY o.order_id
    ON CONFLICT (tenant_id, order_id) DO NOTHING
    RETURNING order_id
    """
)
_INSERT_ITEMS = sa.text(
    """
    INSERT INTO order_items (tenant_id, order_id, line_no, sku, category, brand, unit_price_minor, quantity)
    SELECT CAST(:tenant AS uuid), line.*
      FROM unnest(CAST(:order_ids AS text[]), CAST(:line_nos AS integer[]), CAST(:skus AS text[]),
                  CAST(:categories AS text[]), CAST(:brands AS text[]), CAST(:prices AS bigint[]),
                  CAST(:quantities AS integer[])) AS line
    """
)
_LOCK_ORDERS = sa.text(
    """
    SELECT order_id, customer_id, currency, paid_at, amount_minor, refunded_minor, refund_count
      FROM orders WHERE tenant_id = :tenant AND order_id = ANY(:ids)
     ORDER BY order_id FOR UPDATE
    """
)
_EXISTING_REFUNDS = sa.text(
    """
    SELECT r.order_id, r.refund_id, r.request_hash
      FROM order_refunds r
      JOIN unnest(CAST(:order_ids AS text[]), CAST(:refund_ids AS text[])) AS k(order_id, refund_id)
        ON r.order_id = k.order_id AND r.refund_id = k.refund_id
     WHERE r.tenant_id = :tenant
    """
)
_INSERT_REFUNDS = sa.text(
    """
    INSERT INTO order_refunds
           (tenant_id, order_id, refund_id, amount_minor, reason, refunded_at, request_hash)
    SELECT CAST(:tenant AS uuid), r.*
      FROM unnest(CAST(:order_ids AS text[]), CAST(:refund_ids AS text[]), CAST(:amounts AS bigint[]),
                  CAST(:reasons AS text[]), CAST(:refunded_ats AS timestamptz[]),
                  CAST(:hashes AS bytea[])) AS r
    """
)
_UPDATE_ORDERS = sa.text(
    """
    UPDATE orders o
       SET refunded_minor = u.refunded_minor, refund_count = u.refund_count, status = u.status,
           updated_at = now()
      FROM unnest(CAST(:ids AS text[]), CAST(:refunded AS bigint[]), CAST(:counts AS integer[]),
                  CAST(:statuses AS text[])) AS u(order_id, refunded_minor, refund_count, status)
     WHERE o.tenant_id = :tenant AND o.order_id = u.order_id
    """
)


class SqlOrderBatchStore:
    """Implements ``OrderBatchStore`` on the profile database (fingerprints as the single path's)."""

    def __init__(self, database: Database, orders: SqlOrderStore, outbox: Outbox) -> None:
        self._database = database
        self._orders = orders
        self._outbox = outbox

    def fingerprint(self, tenant_id: uuid.UUID, canonical: str) -> bytes:
        """The same keyed digest the single call stores, so the two paths recognise each other's orders."""
        return self._orders.fingerprint(tenant_id, canonical)

    async def fingerprints(self, tenant_id: uuid.UUID, order_ids: Sequence[str]) -> dict[str, bytes]:
        """The fingerprint of each of these order ids that is already recorded, in one query."""
        if not order_ids:
            return {}
        async with self._database.read() as connection:
            return await _fingerprints(connection, tenant_id, order_ids)

    async def record_many(self, tenant_id: uuid.UUID, orders: Sequence[PlacedOrder]) -> OrderBatchWrite:
        """Insert the orders whose customer exists, with their items and order.paid each.

        An order of an erased or unknown customer is left out (``missing_customers``); one whose id a
        concurrent call took is left out too, with that call's fingerprint in ``taken``.
        """
        if not orders:
            return OrderBatchWrite(frozenset(), {}, frozenset())
        async with self._database.transaction() as connection:
            live = await resolve_survivors(
                connection, tenant_id, {o.customer_id for o in orders}, lock="key_share"
            )
            rows = sorted((o for o in orders if o.customer_id in live), key=lambda o: o.order.order_id)
            inserted: frozenset[str] = frozenset()
            taken: dict[str, bytes] = {}
            if rows:
                result = await connection.execute(_INSERT_ORDERS, _order_columns(tenant_id, rows, live))
                inserted = frozenset(result.scalars())
                new = [o for o in rows if o.order.order_id in inserted]
                if new:
                    await connection.execute(_INSERT_ITEMS, _item_columns(tenant_id, new))
                    await self._outbox.append(
                        connection, [paid_event(tenant_id, live[o.customer_id], o.order) for o in new]
                    )
                lost = [o.order.order_id for o in rows if o.order.order_id not in inserted]
                if lost:
                    taken = await _fingerprints(connection, tenant_id, lost)
        missing = frozenset(o.customer_id for o in orders if o.customer_id not in live)
        return OrderBatchWrite(inserted, taken, missing)

    async def refund_many(
        self, tenant_id: uuid.UUID, refunds: Sequence[PlacedRefund], judge: RefundJudge
    ) -> dict[int, RefundVerdict]:
        """Judge and record the refunds in request order under their orders' row locks."""
        verdicts: dict[int, RefundVerdict] = {}
        async with self._database.transaction() as connection:
            locked = await connection.execute(
                _LOCK_ORDERS, {"tenant": tenant_id, "ids": sorted({r.refund.order_id for r in refunds})}
            )
            terms: dict[str, OrderTerms] = {}
            owners: dict[str, uuid.UUID] = {}
            for row in locked:
                terms[row.order_id] = OrderTerms(
                    row.currency, row.paid_at, row.amount_minor, row.refunded_minor, row.refund_count
                )
                owners[row.order_id] = row.customer_id
            recorded = await self._recorded_refunds(connection, tenant_id, refunds)
            accepted: list[PlacedRefund] = []
            events: list[NewEvent] = []
            for placed in refunds:
                refund = placed.refund
                key = (refund.order_id, refund.refund_id)
                current = terms.get(refund.order_id)
                if current is None:
                    missing = FieldViolation(f"refunds[{placed.index}].order_id", "order not found")
                    verdicts[placed.index] = RefundVerdict(violations=(missing,))
                elif key in recorded:
                    verdicts[placed.index] = RefundVerdict(existing_fingerprint=recorded[key])
                elif faults := judge(placed, current):
                    verdicts[placed.index] = RefundVerdict(violations=tuple(faults))
                else:
                    after = OrderTerms(
                        current.currency,
                        current.paid_at,
                        current.amount_minor,
                        current.refunded_minor + refund.amount_minor,
                        current.refund_count + 1,
                    )
                    terms[refund.order_id] = after
                    recorded[key] = placed.fingerprint
                    accepted.append(placed)
                    fully = after.remaining_minor == 0
                    events.append(
                        refunded_event(tenant_id, owners[refund.order_id], refund, current.currency, fully)
                    )
                    verdicts[placed.index] = RefundVerdict(created=True)
            if accepted:
                await self._write_refunds(connection, tenant_id, accepted, terms)
                await self._outbox.append(connection, events)
        return verdicts

    @staticmethod
    async def _recorded_refunds(
        connection: AsyncConnection, tenant_id: uuid.UUID, refunds: Sequence[PlacedRefund]
    ) -> dict[tuple[str, str], bytes]:
        rows = await connection.execute(
            _EXISTING_REFUNDS,
            {
                "tenant": tenant_id,
                "order_ids": [r.refund.order_id for r in refunds],
                "refund_ids": [r.refund.refund_id for r in refunds],
            },
        )
        return {(row.order_id, row.refund_id): row.request_hash for row in rows}

    @staticmethod
    async def _write_refunds(
        connection: AsyncConnection,
        tenant_id: uuid.UUID,
        accepted: Sequence[PlacedRefund],
        terms: dict[str, OrderTerms],
    ) -> None:
        await connection.execute(
            _INSERT_REFUNDS,
            {
                "tenant": tenant_id,
                "order_ids": [r.refund.order_id for r in accepted],
                "refund_ids": [r.refund.refund_id for r in accepted],
                "amounts": [r.refund.amount_minor for r in accepted],
                "reasons": [r.refund.reason for r in accepted],
                "refunded_ats": [r.refund.refunded_at for r in accepted],
                "hashes": [r.fingerprint for r in accepted],
            },
        )
        changed = sorted({r.refund.order_id for r in accepted})
        await connection.execute(
            _UPDATE_ORDERS,
            {
                "tenant": tenant_id,
                "ids": changed,
                "refunded": [terms[o].refunded_minor for o in changed],
                "counts": [terms[o].refund_count for o in changed],
                "statuses": [order_status(terms[o].amount_minor, terms[o].refunded_minor) for o in changed],
            },
        )


async def _fingerprints(
    connection: AsyncConnection, tenant_id: uuid.UUID, order_ids: Sequence[str]
) -> dict[str, bytes]:
    rows = await connection.execute(_FINGERPRINTS, {"tenant": tenant_id, "ids": list(order_ids)})
    return {row.order_id: row.request_hash for row in rows}


def _order_columns(
    tenant_id: uuid.UUID, rows: Sequence[PlacedOrder], live: dict[uuid.UUID, uuid.UUID]
) -> dict[str, Any]:
    return {
        "tenant": tenant_id,
        "order_ids": [o.order.order_id for o in rows],
        "customer_ids": [live[o.customer_id] for o in rows],
        "paid_ats": [o.order.paid_at for o in rows],
        "currencies": [o.order.currency for o in rows],
        "amounts": [o.order.amount_minor for o in rows],
        "coupons": [o.order.coupon_code for o in rows],
        "channels": [o.order.channel for o in rows],
        "item_counts": [len(o.order.items) for o in rows],
        "hashes": [o.fingerprint for o in rows],
    }


def _item_columns(tenant_id: uuid.UUID, orders: Sequence[PlacedOrder]) -> dict[str, Any]:
    lines = [(o.order.order_id, n, item) for o in orders for n, item in enumerate(o.order.items, start=1)]
    return {
        "tenant": tenant_id,
        "order_ids": [order_id for order_id, _, _ in lines],
        "line_nos": [n for _, n, _ in lines],
        "skus": [i.sku for _, _, i in lines],
        "categories": [i.category for _, _, i in lines],
        "brands": [i.brand for _, _, i in lines],
        "prices": [i.unit_price_minor for _, _, i in lines],
        "quantities": [i.quantity for _, _, i in lines],
    }

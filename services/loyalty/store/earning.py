"""Earning and taking back points for orders, refunds, reviews and shares (in the caller's
transaction; the consumer calls these once per event).

- An order earns once: its ``order_points`` row is claimed with ``ON CONFLICT DO NOTHING`` before
  anything is credited, and the earn entry's idempotency key is the order's.
- A refund takes back in proportion, cumulatively (``domain.earning.reversal_due``), from the
  order's own lot first. Points already spent cannot be taken: the shortfall becomes the
  account's debt, repaid from the next credits; the balance never goes negative.
- Reviews and shares earn within the day's cap, per customer and tenant-local day.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.earning import (
    PaidOrder,
    Refund,
    RefundOutcome,
    capped,
    order_points,
    reversal_due,
)
from services.loyalty.domain.expiry import expires_at, local_date
from services.loyalty.domain.ledger import entry_id_for
from services.loyalty.domain.program import TenantProgram, Tier, minor_per_unit
from services.loyalty.store.ledger import Movement, credit, take_back
from services.runtime.events.outbox import Outbox

_CLAIM_ORDER = sa.text(
    """
    INSERT INTO order_points (tenant_id, order_id, customer_id, amount_minor, earned, paid_at, lot_id)
    VALUES (:tenant_id, :order_id, :customer_id, :amount_minor, :earned, :paid_at, :lot_id)
    ON CONFLICT (tenant_id, order_id) DO NOTHING
    RETURNING order_id
    """
)


async def earn_for_order(
    connection: AsyncConnection,
    outbox: Outbox,
    context: TenantProgram,
    order: PaidOrder,
    tier: Tier,
    *,
    birthday: bool,
) -> int:
    """Credit what ``order`` earns under ``tier`` (held before this order); 0 when it was already
    credited or earns nothing."""
    program = context.program
    unit = minor_per_unit(order.currency or context.tenant.currency)
    points = order_points(
        order.amount_minor,
        unit,
        program.earn,
        tier_multiplier_percent=tier.points_multiplier_percent,
        birthday=birthday,
    )
    key = f"order:{order.order_id}:earn"
    movement = Movement(
        tenant_id=context.tenant.tenant_id,
        customer_id=order.customer_id,
        entry_type="earn",
        reason=f"order paid ({tier.code} tier x{tier.points_multiplier_percent}%"
        + (", birthday" if birthday else "")
        + ")",
        source=f"order:{order.order_id}",
        idempotency_key=key,
        program_version=program.version,
        occurred_at=order.paid_at,
    )
    lot_id = entry_id_for(context.tenant.tenant_id, key) if points > 0 else None
    claimed = (
        await connection.execute(
            _CLAIM_ORDER,
            {
                "tenant_id": context.tenant.tenant_id,
                "order_id": order.order_id,
                "customer_id": order.customer_id,
                "amount_minor": max(order.amount_minor, 0),
                "earned": points,
                "paid_at": order.paid_at,
                "lot_id": lot_id,
            },
        )
    ).first()
    if claimed is None or points == 0:
        return 0
    lot_expiry = expires_at(program.expiry, order.paid_at, context.tenant.timezone)
    await credit(connection, outbox, movement, points, lot_expiry)
    return points


_ORDER_FOR_REFUND = sa.text(
    "SELECT customer_id, amount_minor, earned, refunded_minor, reversed, lot_id FROM order_points "
    "WHERE tenant_id = :tenant_id AND order_id = :order_id FOR UPDATE"
)
_RECORD_REFUND = sa.text(
    "UPDATE order_points SET refunded_minor = :refunded, reversed = reversed + :due "
    "WHERE tenant_id = :tenant_id AND order_id = :order_id"
)


async def reverse_for_refund(
    connection: AsyncConnection, outbox: Outbox, context: TenantProgram, refund: Refund
) -> RefundOutcome:
    """Take back the refund's share of what the order earned (see the module's policy)."""
    tenant_id = context.tenant.tenant_id
    row = (
        await connection.execute(_ORDER_FOR_REFUND, {"tenant_id": tenant_id, "order_id": refund.order_id})
    ).first()
    if row is None:
        return RefundOutcome(None, 0, 0)
    refunded = min(int(row.refunded_minor) + max(refund.amount_minor, 0), int(row.amount_minor))
    due = reversal_due(
        int(row.earned),
        int(row.amount_minor),
        refunded,
        fully_refunded=refund.fully_refunded,
        reversed_so_far=int(row.reversed),
    )
    await connection.execute(
        _RECORD_REFUND,
        {"tenant_id": tenant_id, "order_id": refund.order_id, "refunded": refunded, "due": due},
    )
    if due == 0:
        return RefundOutcome(row.customer_id, 0, 0)
    movement = Movement(
        tenant_id=tenant_id,
        customer_id=row.customer_id,
        entry_type="reverse",
        reason="order refunded",
        source=f"refund:{refund.order_id}:{refund.refund_id}",
        idempotency_key=f"refund:{refund.order_id}:{refund.refund_id}",
        program_version=context.program.version,
        occurred_at=refund.refunded_at,
    )
    clawback = await take_back(connection, outbox, movement, due, prefer=row.lot_id)
    return RefundOutcome(row.customer_id, clawback.taken, clawback.owed)


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


async def earn_capped(
    connection: AsyncConnection,
    outbox: Outbox,
    context: TenantProgram,
    *,
    customer_id: uuid.UUID,
    kind: str,
    points: int,
    cap: int,
    event_id: str,
    occurred_at: datetime,
) -> int:
    """Credit a review's or share's points within the day's cap; returns the points credited.

    The day's counter row is locked by the upsert, so two awards of one customer and day (even in
    two transactions) never pass the cap together.
    """
    if points <= 0:
        return 0
    tenant = context.tenant
    day = local_date(occurred_at, tenant.timezone)
    params = {"tenant_id": tenant.tenant_id, "customer_id": customer_id, "day": day, "source": kind}
    already = int((await connection.execute(_DAILY_AWARD, params)).scalar_one())
    award = capped(points, already, cap)
    if award == 0:
        return 0
    await connection.execute(_ADD_AWARD, {**params, "points": award})
    movement = Movement(
        tenant_id=tenant.tenant_id,
        customer_id=customer_id,
        entry_type="earn",
        reason=kind if award == points else f"{kind} (capped at {cap} a day)",
        source=f"{kind}:{event_id}",
        idempotency_key=f"{kind}:{event_id}",
        program_version=context.program.version,
        occurred_at=occurred_at,
    )
    await credit(
        connection, outbox, movement, award, expires_at(context.program.expiry, occurred_at, tenant.timezone)
    )
    return award

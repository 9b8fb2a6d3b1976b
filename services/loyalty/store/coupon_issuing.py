"""Issuing coupons under their limits, and buying them with points.

How the limits hold under concurrency (all in the caller's transaction):
- the coupon row is inserted first, under its issue key (unique per tenant): a concurrent issue
  with the same key waits on that key and then answers the coupon the first one issued;
- the per-customer limit is one conditional upsert of the customer's ``coupon_holdings`` row
  (``... DO UPDATE ... WHERE issued < limit``) and the budget one conditional ``UPDATE`` of the
  template's ``issued_count``: each takes its row lock and checks in the same statement, so
  concurrent issues serialise on the row and none can pass the limit (CHECK behind the budget).
Any refusal raises, and the caller's transaction rolls back everything the call wrote.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import loyalty_events_pb2
from services.loyalty.domain.coupons import (
    Coupon,
    CouponTemplate,
    Exchanged,
    Issued,
    coupon_validity,
    new_code,
    scoped_key,
)
from services.loyalty.store.coupon_tables import coupons
from services.loyalty.store.coupon_templates import coupon_from_row
from services.loyalty.store.ledger import spend_points
from services.runtime.errors import Conflict
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.proto_convert import set_time

_CODE_ATTEMPTS = 3

_HOLD = sa.text(
    """
    INSERT INTO coupon_holdings (tenant_id, template_id, customer_id, issued)
    VALUES (:tenant_id, :template_id, :customer_id, 1)
    ON CONFLICT (tenant_id, template_id, customer_id)
    DO UPDATE SET issued = coupon_holdings.issued + 1 WHERE coupon_holdings.issued < :limit
    RETURNING issued
    """
)

_SPEND_BUDGET = sa.text(
    """
    UPDATE coupon_templates SET issued_count = issued_count + 1
    WHERE tenant_id = :tenant_id AND template_id = :template_id
      AND (budget IS NULL OR issued_count < budget)
    RETURNING issued_count
    """
)


def _issued_event(tenant_id: uuid.UUID, coupon: Coupon) -> NewEvent:
    payload = loyalty_events_pb2.CouponIssued(
        coupon_code=coupon.code, template_id=str(coupon.template_id), source=coupon.source
    )
    set_time(payload, "valid_from", coupon.valid_from)
    set_time(payload, "valid_until", coupon.valid_until)
    return NewEvent(tenant_id, "coupon.issued", coupon.customer_id, payload, occurred_at=coupon.issued_at)


async def _by_issue_key(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    issue_key: str,
    template: CouponTemplate,
    customer_id: uuid.UUID,
) -> Coupon | None:
    row = (
        await connection.execute(
            sa.select(coupons).where(coupons.c.tenant_id == tenant_id, coupons.c.issue_key == issue_key)
        )
    ).first()
    if row is None:
        return None
    if row.template_id != template.template_id or row.customer_id != customer_id:
        raise Conflict("this idempotency key was used for another coupon", reason="KEY_REUSED")
    return coupon_from_row(row, template.spec.kind)


async def _insert_coupon(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    template: CouponTemplate,
    issue_key: str | None,
    source: str,
    now: datetime,
) -> Coupon | None:
    """Insert the coupon under a fresh code; None when a concurrent issue took the same key first."""
    valid_from, valid_until = coupon_validity(template, now)
    for _ in range(_CODE_ATTEMPTS):
        row = (
            await connection.execute(
                pg.insert(coupons)
                .values(
                    tenant_id=tenant_id,
                    code=new_code(),
                    template_id=template.template_id,
                    customer_id=customer_id,
                    issue_key=issue_key,
                    source=source,
                    status="issued",
                    valid_from=valid_from,
                    valid_until=valid_until,
                    issued_at=now,
                )
                .on_conflict_do_nothing()
                .returning(coupons)
            )
        ).first()
        if row is not None:
            return coupon_from_row(row, template.spec.kind)
        if issue_key is not None:
            return None  # the key (not the code) collided: the caller answers the first coupon
    raise Conflict("could not draw an unused coupon code; retry", reason="CODE_COLLISION")


async def issue_coupon(
    connection: AsyncConnection,
    outbox: Outbox,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    template: CouponTemplate,
    issue_key: str | None,
    source: str,
    now: datetime,
) -> Issued:
    """Issue one coupon of ``template`` to the customer within the per-customer limit and the budget
    (Conflict PER_CUSTOMER_LIMIT_REACHED / BUDGET_EXHAUSTED / TEMPLATE_EXPIRED otherwise) and emit
    coupon.issued. The same ``issue_key`` again answers the coupon issued the first time."""
    if issue_key is not None:
        earlier = await _by_issue_key(connection, tenant_id, issue_key, template, customer_id)
        if earlier is not None:
            return Issued(earlier, replayed=True)
    coupon = await _insert_coupon(connection, tenant_id, customer_id, template, issue_key, source, now)
    if coupon is None:
        assert issue_key is not None
        earlier = await _by_issue_key(connection, tenant_id, issue_key, template, customer_id)
        if earlier is None:  # the first one rolled back after all: the caller may retry
            raise Conflict("a concurrent request with this key failed; retry", reason="KEY_IN_PROGRESS")
        return Issued(earlier, replayed=True)
    keys = {"tenant_id": tenant_id, "template_id": template.template_id}
    held = (
        await connection.execute(
            _HOLD, {**keys, "customer_id": customer_id, "limit": template.spec.per_customer_limit}
        )
    ).first()
    if held is None:
        raise Conflict(
            "the customer already holds as many of these coupons as a customer may",
            reason="PER_CUSTOMER_LIMIT_REACHED",
            metadata={"per_customer_limit": str(template.spec.per_customer_limit)},
        )
    if (await connection.execute(_SPEND_BUDGET, keys)).first() is None:
        raise Conflict(
            "this template's budget is exhausted",
            reason="BUDGET_EXHAUSTED",
            metadata={"budget": str(template.spec.budget)},
        )
    await outbox.append(connection, [_issued_event(tenant_id, coupon)])
    return Issued(coupon, replayed=False)


async def exchange_points(
    connection: AsyncConnection,
    outbox: Outbox,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    template: CouponTemplate,
    idempotency_key: str,
    now: datetime,
) -> Exchanged:
    """Buy a coupon with points in the caller's transaction: the coupon is issued (limits checked)
    and its ``points_price`` spent through the ledger; either refusal (limit, budget, insufficient
    points) rolls both back. The same key again answers the first exchange and spends nothing."""
    price = template.spec.points_price
    if price is None:
        raise Conflict("this coupon cannot be bought with points", reason="NOT_EXCHANGEABLE")
    issued = await issue_coupon(
        connection,
        outbox,
        tenant_id=tenant_id,
        customer_id=customer_id,
        template=template,
        issue_key=scoped_key("exchange", idempotency_key),
        source="points_exchange",
        now=now,
    )
    spent = await spend_points(
        connection,
        outbox,
        tenant_id=tenant_id,
        customer_id=customer_id,
        points=price,
        reason="coupon exchange",
        source=f"coupon:{issued.coupon.code}",
        idempotency_key=scoped_key("coupon-exchange", idempotency_key),
    )
    if not issued.replayed:
        await connection.execute(
            sa.update(coupons)
            .where(coupons.c.tenant_id == tenant_id, coupons.c.code == issued.coupon.code)
            .values(points_entry_id=spent.entry_id)
        )
    return Exchanged(issued.coupon, price, spent.entry_id, spent.balance, issued.replayed)

"""The statements of redeeming a coupon on an order, exactly once.

The coupon row is locked (``FOR UPDATE``) and only an ``issued`` coupon turns ``redeemed``: the
second of two concurrent redemptions sees it redeemed and answers 409. The rules (status, threshold,
first order, the discount) are ``services.loyalty.domain.coupon_work.redeem_coupon``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import loyalty_events_pb2
from services.loyalty.domain.coupon_work import LockedCoupon
from services.loyalty.domain.coupons import Coupon, TemplateSpec
from services.loyalty.store.coupon_tables import coupon_templates, coupons
from services.loyalty.store.coupon_templates import coupon_from_row
from services.loyalty.store.membership_tables import membership_facts
from services.runtime.events.outbox import NewEvent
from services.runtime.proto_convert import set_time

_LOCK_COUPON = sa.text(
    """
    SELECT c.*, t.kind, t.threshold_minor, t.discount_minor AS template_discount_minor, t.percent_off,
        t.max_discount_minor, t.name, t.valid_days, t.per_customer_limit, t.budget, t.points_price,
        t.valid_from AS template_valid_from, t.valid_until AS template_valid_until,
        (SELECT currency FROM tenants WHERE tenant_id = c.tenant_id) AS currency
    FROM coupons AS c
    JOIN coupon_templates AS t ON t.tenant_id = c.tenant_id AND t.template_id = c.template_id
    WHERE c.tenant_id = :tenant_id AND c.code = :code
    FOR UPDATE OF c
    """
)


async def has_other_order(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, order_id: str
) -> bool:
    """Whether loyalty recorded a paid order of the customer other than ``order_id``."""
    found = (
        await connection.execute(
            sa.select(sa.literal(1))
            .where(
                membership_facts.c.tenant_id == tenant_id,
                membership_facts.c.customer_id == customer_id,
                membership_facts.c.kind == "order",
                membership_facts.c.order_id != order_id,
            )
            .limit(1)
        )
    ).first()
    return found is not None


def redeemed_event(tenant_id: uuid.UUID, coupon: Coupon, currency: str) -> NewEvent:
    """The coupon.redeemed event announcing ``coupon``."""
    assert coupon.redeemed_at is not None
    payload = loyalty_events_pb2.CouponRedeemed(
        coupon_code=coupon.code,
        template_id=str(coupon.template_id),
        order_id=coupon.order_id or "",
        discount_minor=coupon.discount_minor or 0,
        currency=currency,
    )
    set_time(payload, "redeemed_at", coupon.redeemed_at)
    return NewEvent(tenant_id, "coupon.redeemed", coupon.customer_id, payload, occurred_at=coupon.redeemed_at)


async def lock_coupon(connection: AsyncConnection, tenant_id: uuid.UUID, code: str) -> LockedCoupon | None:
    """The tenant's coupon of ``code``, locked for redemption, with its template's terms."""
    row = (await connection.execute(_LOCK_COUPON, {"tenant_id": tenant_id, "code": code})).first()
    if row is None:
        return None
    terms = TemplateSpec(
        name=row.name,
        kind=row.kind,
        threshold_minor=row.threshold_minor,
        discount_minor=row.template_discount_minor,
        percent_off=row.percent_off,
        max_discount_minor=row.max_discount_minor,
    )
    return LockedCoupon(coupon_from_row(row, row.kind), terms, str(row.currency).strip())


async def mark_redeemed(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    coupon: Coupon,
    *,
    order_id: str,
    amount_minor: int,
    discount_minor: int,
    now: datetime,
) -> Coupon:
    """Turn the (locked, issued) coupon ``redeemed`` on the order and count it on its template."""
    redeemed = (
        await connection.execute(
            sa.update(coupons)
            .where(
                coupons.c.tenant_id == tenant_id, coupons.c.code == coupon.code, coupons.c.status == "issued"
            )
            .values(
                status="redeemed",
                redeemed_at=now,
                order_id=order_id,
                order_amount_minor=amount_minor,
                discount_minor=discount_minor,
            )
            .returning(coupons)
        )
    ).one()
    await connection.execute(
        sa.update(coupon_templates)
        .where(
            coupon_templates.c.tenant_id == tenant_id, coupon_templates.c.template_id == coupon.template_id
        )
        .values(redeemed_count=coupon_templates.c.redeemed_count + 1)
    )
    return coupon_from_row(redeemed, coupon.kind)

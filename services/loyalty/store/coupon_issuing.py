"""The statements of issuing a coupon: its row under a fresh code, the per-customer count, the
budget, the coupon.issued event and the ledger entry that paid for it.

The per-customer limit is one conditional upsert of the customer's ``coupon_holdings`` row
(``... DO UPDATE ... WHERE issued < limit``) and the budget one conditional ``UPDATE`` of the
template's ``issued_count``: each takes its row lock and checks in the same statement, so concurrent
issues serialise on the row and none can pass the limit (CHECK behind the budget). The rules that
drive them are ``services.loyalty.domain.coupon_work``.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import loyalty_events_pb2
from services.loyalty.domain.coupon_work import NewCoupon
from services.loyalty.domain.coupons import Coupon, new_code
from services.loyalty.store.coupon_tables import coupons
from services.loyalty.store.coupon_templates import coupon_from_row
from services.runtime.errors import Conflict
from services.runtime.events.outbox import NewEvent
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


def issued_event(tenant_id: uuid.UUID, coupon: Coupon) -> NewEvent:
    """The coupon.issued event announcing ``coupon``."""
    payload = loyalty_events_pb2.CouponIssued(
        coupon_code=coupon.code, template_id=str(coupon.template_id), source=coupon.source
    )
    set_time(payload, "valid_from", coupon.valid_from)
    set_time(payload, "valid_until", coupon.valid_until)
    return NewEvent(tenant_id, "coupon.issued", coupon.customer_id, payload, occurred_at=coupon.issued_at)


async def issued_under_key(
    connection: AsyncConnection, tenant_id: uuid.UUID, issue_key: str, kind: str
) -> Coupon | None:
    """The coupon the tenant issued under ``issue_key``, if any."""
    row = (
        await connection.execute(
            sa.select(coupons).where(coupons.c.tenant_id == tenant_id, coupons.c.issue_key == issue_key)
        )
    ).first()
    return None if row is None else coupon_from_row(row, kind)


async def insert_coupon(connection: AsyncConnection, tenant_id: uuid.UUID, new: NewCoupon) -> Coupon | None:
    """Insert the coupon under a fresh code; None when a concurrent issue took the same key first."""
    for _ in range(_CODE_ATTEMPTS):
        row = (
            await connection.execute(
                pg.insert(coupons)
                .values(
                    tenant_id=tenant_id,
                    code=new_code(),
                    template_id=new.template.template_id,
                    customer_id=new.customer_id,
                    issue_key=new.issue_key,
                    source=new.source,
                    status="issued",
                    valid_from=new.valid_from,
                    valid_until=new.valid_until,
                    issued_at=new.issued_at,
                )
                .on_conflict_do_nothing()
                .returning(coupons)
            )
        ).first()
        if row is not None:
            return coupon_from_row(row, new.template.spec.kind)
        if new.issue_key is not None:
            return None  # the key (not the code) collided: the caller answers the first coupon
    raise Conflict("could not draw an unused coupon code; retry", reason="CODE_COLLISION")


async def hold_one(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    template_id: uuid.UUID,
    customer_id: uuid.UUID,
    limit: int,
) -> bool:
    """Count one more coupon of the template for the customer; False when they hold ``limit``."""
    params = {"tenant_id": tenant_id, "template_id": template_id, "customer_id": customer_id, "limit": limit}
    return (await connection.execute(_HOLD, params)).first() is not None


async def spend_budget(connection: AsyncConnection, tenant_id: uuid.UUID, template_id: uuid.UUID) -> bool:
    """Count one more issued coupon of the template; False when its budget is spent."""
    params = {"tenant_id": tenant_id, "template_id": template_id}
    return (await connection.execute(_SPEND_BUDGET, params)).first() is not None


async def record_payment(
    connection: AsyncConnection, tenant_id: uuid.UUID, code: str, entry_id: uuid.UUID
) -> None:
    """Remember the ledger entry that paid for a coupon bought with points."""
    await connection.execute(
        sa.update(coupons)
        .where(coupons.c.tenant_id == tenant_id, coupons.c.code == code)
        .values(points_entry_id=entry_id)
    )

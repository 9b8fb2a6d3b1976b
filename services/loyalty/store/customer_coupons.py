"""A customer's coupons: their list by status, and what merges and erasures do to them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.coupons import Coupon
from services.loyalty.store.coupon_tables import coupon_holdings, coupon_templates, coupons
from services.loyalty.store.coupon_templates import coupon_from_row, cursor_time
from services.runtime.paging import Page, decode_cursor, page_from_rows

_MERGE_HOLDINGS = sa.text(
    """
    WITH moved AS (
        DELETE FROM coupon_holdings
        WHERE tenant_id = :tenant_id AND customer_id = ANY(CAST(:merged AS uuid[]))
        RETURNING template_id, issued
    )
    INSERT INTO coupon_holdings (tenant_id, template_id, customer_id, issued)
    SELECT :tenant_id, template_id, :survivor_id, sum(issued) FROM moved GROUP BY template_id
    ON CONFLICT (tenant_id, template_id, customer_id)
    DO UPDATE SET issued = coupon_holdings.issued + EXCLUDED.issued
    """
)


def _status_filter(status: str | None, now: datetime) -> sa.ColumnElement[bool]:
    issued = coupons.c.status == "issued"
    if status == "available":
        return sa.and_(issued, coupons.c.valid_from <= now, coupons.c.valid_until > now)
    if status == "not_yet_valid":
        return sa.and_(issued, coupons.c.valid_from > now)
    if status == "expired":
        return sa.and_(issued, coupons.c.valid_until <= now)
    if status in ("redeemed", "revoked"):
        return coupons.c.status == status
    return sa.true()


async def customer_coupons_page(
    connection: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    status: str | None,
    now: datetime,
    limit: int,
    cursor: str,
) -> Page[Coupon]:
    """The customer's coupons, newest first, optionally of one status (as of ``now``)."""
    after = decode_cursor(cursor, (str, str))
    query = (
        sa.select(coupons, coupon_templates.c.kind)
        .join(
            coupon_templates,
            sa.and_(
                coupon_templates.c.tenant_id == coupons.c.tenant_id,
                coupon_templates.c.template_id == coupons.c.template_id,
            ),
        )
        .where(
            coupons.c.tenant_id == tenant_id,
            coupons.c.customer_id == customer_id,
            _status_filter(status, now),
        )
        .order_by(coupons.c.issued_at.desc(), coupons.c.code.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(
            sa.tuple_(coupons.c.issued_at, coupons.c.code)
            < sa.tuple_(sa.literal(cursor_time(after[0])), sa.literal(after[1]))
        )
    rows = (await connection.execute(query)).all()
    return page_from_rows(
        rows, limit, lambda r: coupon_from_row(r, r.kind), lambda r: [r.issued_at.isoformat(), r.code]
    )


async def merge_customer_coupons(
    connection: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    survivor_id: uuid.UUID,
    merged_ids: Sequence[uuid.UUID],
) -> None:
    """The merged customers' coupons and their counts per template move to the survivor. Coupons
    keep their validity; the per-customer limit then counts them all for new issues."""
    await connection.execute(
        sa.update(coupons)
        .where(coupons.c.tenant_id == tenant_id, coupons.c.customer_id.in_(list(merged_ids)))
        .values(customer_id=survivor_id)
    )
    await connection.execute(
        _MERGE_HOLDINGS, {"tenant_id": tenant_id, "survivor_id": survivor_id, "merged": list(merged_ids)}
    )


async def erase_customer_coupons(
    connection: AsyncConnection, *, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> None:
    """Detach the customer from their coupons: unused ones are revoked, redeemed ones stay (without
    the customer) so that a template's issued and redeemed figures stay true."""
    await connection.execute(
        sa.update(coupons)
        .where(coupons.c.tenant_id == tenant_id, coupons.c.customer_id == customer_id)
        .values(
            customer_id=None,
            status=sa.case((coupons.c.status == "issued", "revoked"), else_=coupons.c.status),
        )
    )
    await connection.execute(
        sa.delete(coupon_holdings).where(
            coupon_holdings.c.tenant_id == tenant_id, coupon_holdings.c.customer_id == customer_id
        )
    )

"""Coupons in the database: templates, issuing under limits, redeeming once, and what merges and
erasures do to a customer's coupons."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.store.coupon_tables import coupon_holdings, coupons

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

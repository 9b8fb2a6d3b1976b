"""Coupon templates in the database: storing one, finding one, a tenant's list; and the row
mappings every coupon query shares."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.coupons import Coupon, CouponTemplate, TemplateSpec
from services.loyalty.store.coupon_tables import coupon_templates
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.paging import Page, decode_cursor, page_from_rows


def template_from_row(row: Any) -> CouponTemplate:
    """The template a ``coupon_templates`` row holds."""
    spec = TemplateSpec(
        name=row.name,
        kind=row.kind,
        threshold_minor=row.threshold_minor,
        discount_minor=row.discount_minor,
        percent_off=row.percent_off,
        max_discount_minor=row.max_discount_minor,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        valid_days=row.valid_days,
        per_customer_limit=row.per_customer_limit,
        budget=row.budget,
        points_price=row.points_price,
    )
    return CouponTemplate(row.template_id, spec, row.issued_count, row.redeemed_count, row.created_at)


def coupon_from_row(row: Any, kind: str) -> Coupon:
    """The coupon a ``coupons`` row holds, of a template of ``kind``."""
    return Coupon(
        code=row.code,
        template_id=row.template_id,
        customer_id=row.customer_id,
        kind=kind,
        source=row.source,
        stored_status=row.status,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        issued_at=row.issued_at,
        redeemed_at=row.redeemed_at,
        order_id=row.order_id,
        discount_minor=row.discount_minor,
        order_amount_minor=row.order_amount_minor,
    )


async def create_template(
    connection: AsyncConnection, tenant_id: uuid.UUID, spec: TemplateSpec
) -> CouponTemplate:
    """Store a validated template (the caller validates: the rules need the current time)."""
    row = (
        await connection.execute(
            sa.insert(coupon_templates)
            .values(
                tenant_id=tenant_id,
                template_id=uuid.uuid4(),
                name=spec.name,
                kind=spec.kind,
                threshold_minor=spec.threshold_minor,
                discount_minor=spec.discount_minor,
                percent_off=spec.percent_off,
                max_discount_minor=spec.max_discount_minor,
                valid_from=spec.valid_from,
                valid_until=spec.valid_until,
                valid_days=spec.valid_days,
                per_customer_limit=spec.per_customer_limit,
                budget=spec.budget,
                points_price=spec.points_price,
            )
            .returning(coupon_templates)
        )
    ).one()
    return template_from_row(row)


async def get_template(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    template_id: str,
    *,
    body_field: str | None = None,
    lock: bool = False,
) -> CouponTemplate:
    """The tenant's template. Unknown (or another tenant's): NotFound for a path id, or a field
    violation of ``body_field`` for an id written in a request body. ``lock`` holds its row until
    the transaction ends (an issue takes it first: see ``store.coupon_batches``)."""
    parsed: uuid.UUID | None
    try:
        parsed = uuid.UUID(template_id)
    except ValueError:
        parsed = None
    row = None
    if parsed is not None:
        query = sa.select(coupon_templates).where(
            coupon_templates.c.tenant_id == tenant_id, coupon_templates.c.template_id == parsed
        )
        row = (await connection.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        if body_field is not None:
            raise InvalidArgument.single(body_field, "no such coupon template")
        raise NotFound("coupon template not found")
    return template_from_row(row)


async def templates_page(
    connection: AsyncConnection, tenant_id: uuid.UUID, *, limit: int, cursor: str
) -> Page[CouponTemplate]:
    """The tenant's templates, newest first."""
    after = decode_cursor(cursor, (str, uuid.UUID))
    query = (
        sa.select(coupon_templates)
        .where(coupon_templates.c.tenant_id == tenant_id)
        .order_by(coupon_templates.c.created_at.desc(), coupon_templates.c.template_id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(
            sa.tuple_(coupon_templates.c.created_at, coupon_templates.c.template_id)
            < sa.tuple_(sa.literal(cursor_time(after[0])), sa.literal(after[1]))
        )
    rows = (await connection.execute(query)).all()
    return page_from_rows(rows, limit, template_from_row, lambda r: [r.created_at.isoformat(), r.template_id])


def cursor_time(value: str) -> datetime:
    """The time a list's cursor carries; a cursor of another list is a fault of ``cursor``."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument.single("cursor", "is not a cursor of this list") from None
    if moment.tzinfo is None:
        raise InvalidArgument.single("cursor", "is not a cursor of this list")
    return moment

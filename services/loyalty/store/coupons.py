"""Coupons in the database: templates, issuing under limits, redeeming once, exchanging points, and
what merges and erasures do to a customer's coupons.

How the limits hold under concurrency (all in the caller's transaction):
- the coupon row is inserted first, under its issue key (unique per tenant): a concurrent issue
  with the same key waits on that key and then answers the coupon the first one issued;
- the per-customer limit is one conditional upsert of the customer's ``coupon_holdings`` row
  (``... DO UPDATE ... WHERE issued < limit``) and the budget one conditional ``UPDATE`` of the
  template's ``issued_count``: each takes its row lock and checks in the same statement, so
  concurrent issues serialise on the row and none can pass the limit (CHECK behind the budget);
- a redemption locks the coupon row (``FOR UPDATE``) and only an ``issued`` coupon turns
  ``redeemed``: the second of two concurrent redemptions sees it redeemed and answers 409.
Any refusal raises, and the caller's transaction rolls back everything the call wrote.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import loyalty_events_pb2
from services.loyalty.domain.coupons import (
    Coupon,
    CouponTemplate,
    TemplateSpec,
    coupon_validity,
    new_code,
    redemption_discount,
)
from services.loyalty.store.coupon_tables import coupon_holdings, coupon_templates, coupons
from services.loyalty.store.ledger import spend_points
from services.loyalty.store.membership_tables import membership_facts
from services.runtime.errors import Conflict, InvalidArgument, NotFound
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.paging import Page, decode_cursor, page_from_rows

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


@dataclass(frozen=True, slots=True)
class Issued:
    """An issued coupon, and whether this call only found it (issued earlier under the same key)."""

    coupon: Coupon
    replayed: bool


@dataclass(frozen=True, slots=True)
class Exchanged:
    """A coupon bought with points, the ledger entry that paid for it and the balance after it."""

    coupon: Coupon
    points_spent: int
    entry_id: uuid.UUID
    balance: int
    replayed: bool


@dataclass(frozen=True, slots=True)
class Redemption:
    """A redeemed coupon and what it took off the order."""

    coupon: Coupon
    discount_minor: int
    currency: str


def scoped_key(operation: str, key: str) -> str:
    """The stored issue key of a client's idempotency key for one operation (bounded length)."""
    return f"{operation}:{hashlib.sha256(key.encode()).hexdigest()}"


def _template(row: Any) -> CouponTemplate:
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


def _coupon(row: Any, kind: str) -> Coupon:
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
    )


# ---- templates ------------------------------------------------------------------------------------


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
    return _template(row)


async def get_template(
    connection: AsyncConnection, tenant_id: uuid.UUID, template_id: str, *, body_field: str | None = None
) -> CouponTemplate:
    """The tenant's template. Unknown (or another tenant's): NotFound for a path id, or a field
    violation of ``body_field`` for an id written in a request body."""
    parsed: uuid.UUID | None
    try:
        parsed = uuid.UUID(template_id)
    except ValueError:
        parsed = None
    row = None
    if parsed is not None:
        row = (
            await connection.execute(
                sa.select(coupon_templates).where(
                    coupon_templates.c.tenant_id == tenant_id, coupon_templates.c.template_id == parsed
                )
            )
        ).first()
    if row is None:
        if body_field is not None:
            raise InvalidArgument.single(body_field, "no such coupon template")
        raise NotFound("coupon template not found")
    return _template(row)


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
            < sa.tuple_(sa.literal(_cursor_time(after[0])), sa.literal(after[1]))
        )
    rows = (await connection.execute(query)).all()
    return page_from_rows(rows, limit, _template, lambda r: [r.created_at.isoformat(), r.template_id])


def _cursor_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument.single("cursor", "is not a cursor of this list") from None
    if moment.tzinfo is None:
        raise InvalidArgument.single("cursor", "is not a cursor of this list")
    return moment


# ---- issuing --------------------------------------------------------------------------------------


def _issued_event(tenant_id: uuid.UUID, coupon: Coupon) -> NewEvent:
    payload = loyalty_events_pb2.CouponIssued(
        coupon_code=coupon.code, template_id=str(coupon.template_id), source=coupon.source
    )
    payload.valid_from.FromDatetime(coupon.valid_from)
    payload.valid_until.FromDatetime(coupon.valid_until)
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
    return _coupon(row, template.spec.kind)


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
            return _coupon(row, template.spec.kind)
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


# ---- redeeming ------------------------------------------------------------------------------------

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


async def _has_other_order(
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


def _redeemed_event(tenant_id: uuid.UUID, coupon: Coupon, currency: str) -> NewEvent:
    assert coupon.redeemed_at is not None
    payload = loyalty_events_pb2.CouponRedeemed(
        coupon_code=coupon.code,
        template_id=str(coupon.template_id),
        order_id=coupon.order_id or "",
        discount_minor=coupon.discount_minor or 0,
        currency=currency,
    )
    payload.redeemed_at.FromDatetime(coupon.redeemed_at)
    return NewEvent(tenant_id, "coupon.redeemed", coupon.customer_id, payload, occurred_at=coupon.redeemed_at)


async def redeem_coupon(
    connection: AsyncConnection,
    outbox: Outbox,
    *,
    tenant_id: uuid.UUID,
    code: str,
    order_id: str,
    amount_minor: int,
    now: datetime,
) -> Redemption:
    """Redeem the coupon on an order, exactly once (Conflict with the reason otherwise; NotFound for
    an unknown or another tenant's code). A first-order coupon needs the customer to have no paid
    order recorded by loyalty other than this one."""
    row = (await connection.execute(_LOCK_COUPON, {"tenant_id": tenant_id, "code": code})).first()
    if row is None:
        raise NotFound("coupon not found")
    coupon = _coupon(row, row.kind)
    spec = TemplateSpec(
        name=row.name,
        kind=row.kind,
        threshold_minor=row.threshold_minor,
        discount_minor=row.template_discount_minor,
        percent_off=row.percent_off,
        max_discount_minor=row.max_discount_minor,
    )
    other_order = False
    if spec.kind == "first_order" and coupon.customer_id is not None:
        other_order = await _has_other_order(connection, tenant_id, coupon.customer_id, order_id)
    discount = redemption_discount(
        coupon, spec, amount_minor=amount_minor, now=now, has_other_order=other_order
    )
    redeemed = (
        await connection.execute(
            sa.update(coupons)
            .where(coupons.c.tenant_id == tenant_id, coupons.c.code == code, coupons.c.status == "issued")
            .values(
                status="redeemed",
                redeemed_at=now,
                order_id=order_id,
                order_amount_minor=amount_minor,
                discount_minor=discount,
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
    result = _coupon(redeemed, row.kind)
    currency = str(row.currency).strip()
    await outbox.append(connection, [_redeemed_event(tenant_id, result, currency)])
    return Redemption(result, discount, currency)


# ---- a customer's coupons -------------------------------------------------------------------------


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
            < sa.tuple_(sa.literal(_cursor_time(after[0])), sa.literal(after[1]))
        )
    rows = (await connection.execute(query)).all()
    return page_from_rows(
        rows, limit, lambda r: _coupon(r, r.kind), lambda r: [r.issued_at.isoformat(), r.code]
    )


# ---- merges and erasure ---------------------------------------------------------------------------


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

"""Issuing, exchanging and redeeming a coupon inside one transaction of the coupon store.

``CouponWork`` is what one such transaction can do (``services.loyalty.store.coupon_work``
implements it); the functions here are the rules that drive it. How the limits hold under
concurrency is the store's part: the template's row is locked first (issues of one template, single
or in a batch, take it before anything else and so never deadlock), then the coupon row is inserted
under its issue key (unique per tenant, so a concurrent issue with the same key waits and then finds
the first coupon), and the per-customer limit and the budget are each one conditional statement
that locks its row. A redemption locks the coupon row, so the second of two concurrent redemptions
sees it redeemed. Any refusal raises, and the transaction rolls back everything the call wrote.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.loyalty.domain.coupons import (
    Coupon,
    CouponTemplate,
    Exchanged,
    Issued,
    Redemption,
    TemplateSpec,
    coupon_validity,
    redemption_discount,
    scoped_key,
)
from services.loyalty.domain.ledger import LedgerResult
from services.runtime.errors import Conflict, NotFound


@dataclass(frozen=True, slots=True)
class LockedCoupon:
    """A coupon locked for redemption, with its template's discount terms and the currency."""

    coupon: Coupon
    terms: TemplateSpec
    currency: str


@dataclass(frozen=True, slots=True)
class NewCoupon:
    """A coupon about to be issued (the store draws its code)."""

    customer_id: uuid.UUID
    template: CouponTemplate
    issue_key: str | None
    source: str
    valid_from: datetime
    valid_until: datetime
    issued_at: datetime


class CouponWork(Protocol):
    """One transaction of the coupon store, for one tenant."""

    async def customer(self, customer_id: uuid.UUID) -> uuid.UUID:
        """The live customer the id names; NotFound when unknown, erased or another tenant's."""
        ...

    async def template(self, template_id: str) -> CouponTemplate:
        """The template a request's body names, its row locked until the transaction ends (every
        issue, single or batch, takes its templates' rows before any other coupon row, so they
        never deadlock); an unknown one is a fault of ``template_id``."""
        ...

    async def issued_under_key(self, issue_key: str, kind: str) -> Coupon | None: ...

    async def insert(self, coupon: NewCoupon) -> Coupon | None:
        """The coupon under a fresh code; None when a concurrent issue took the same key first."""
        ...

    async def hold(self, template_id: uuid.UUID, customer_id: uuid.UUID, limit: int) -> bool:
        """Count one more of the template for the customer; False when they hold ``limit``."""
        ...

    async def spend_budget(self, template_id: uuid.UUID) -> bool:
        """Count one more issued coupon of the template; False when its budget is spent."""
        ...

    async def announce_issued(self, coupon: Coupon) -> None: ...

    async def spend_points(
        self, customer_id: uuid.UUID, points: int, reason: str, source: str, idempotency_key: str
    ) -> LedgerResult: ...

    async def record_payment(self, code: str, entry_id: uuid.UUID) -> None:
        """Remember which ledger entry paid for the coupon."""
        ...

    async def lock(self, code: str) -> LockedCoupon | None: ...

    async def has_other_order(self, customer_id: uuid.UUID, order_id: str) -> bool:
        """Whether loyalty recorded a paid order of the customer other than ``order_id``."""
        ...

    async def mark_redeemed(
        self, coupon: Coupon, order_id: str, amount_minor: int, discount_minor: int, now: datetime
    ) -> Coupon:
        """The coupon turned ``redeemed`` on the order (and counted on its template)."""
        ...

    async def announce_redeemed(self, coupon: Coupon, currency: str) -> None: ...


async def _earlier(
    work: CouponWork, issue_key: str, template: CouponTemplate, customer_id: uuid.UUID
) -> Coupon | None:
    """The coupon issued before under ``issue_key``; a key used for another coupon is a conflict."""
    earlier = await work.issued_under_key(issue_key, template.spec.kind)
    if earlier is not None and (
        earlier.template_id != template.template_id or earlier.customer_id != customer_id
    ):
        raise Conflict("this idempotency key was used for another coupon", reason="KEY_REUSED")
    return earlier


async def issue_coupon(
    work: CouponWork,
    *,
    customer_id: uuid.UUID,
    template: CouponTemplate,
    issue_key: str | None,
    source: str,
    now: datetime,
) -> Issued:
    """Issue one coupon of ``template`` to the customer within the per-customer limit and the budget
    (Conflict PER_CUSTOMER_LIMIT_REACHED / BUDGET_EXHAUSTED / TEMPLATE_EXPIRED otherwise) and
    announce it. The same ``issue_key`` again answers the coupon issued the first time."""
    if issue_key is not None:
        earlier = await _earlier(work, issue_key, template, customer_id)
        if earlier is not None:
            return Issued(earlier, replayed=True)
    valid_from, valid_until = coupon_validity(template, now)
    coupon = await work.insert(
        NewCoupon(customer_id, template, issue_key, source, valid_from, valid_until, now)
    )
    if coupon is None:
        assert issue_key is not None
        earlier = await _earlier(work, issue_key, template, customer_id)
        if earlier is None:  # the first one rolled back after all: the caller may retry
            raise Conflict("a concurrent request with this key failed; retry", reason="KEY_IN_PROGRESS")
        return Issued(earlier, replayed=True)
    if not await work.hold(template.template_id, customer_id, template.spec.per_customer_limit):
        raise Conflict(
            "the customer already holds as many of these coupons as a customer may",
            reason="PER_CUSTOMER_LIMIT_REACHED",
            metadata={"per_customer_limit": str(template.spec.per_customer_limit)},
        )
    if not await work.spend_budget(template.template_id):
        raise Conflict(
            "this template's budget is exhausted",
            reason="BUDGET_EXHAUSTED",
            metadata={"budget": str(template.spec.budget)},
        )
    await work.announce_issued(coupon)
    return Issued(coupon, replayed=False)


async def exchange_points(
    work: CouponWork,
    *,
    customer_id: uuid.UUID,
    template: CouponTemplate,
    idempotency_key: str,
    now: datetime,
) -> Exchanged:
    """Buy a coupon with points: the coupon is issued (limits checked) and its ``points_price``
    spent through the ledger; either refusal (limit, budget, insufficient points) rolls both back.
    The same key again answers the first exchange and spends nothing."""
    price = template.spec.points_price
    if price is None:
        raise Conflict("this coupon cannot be bought with points", reason="NOT_EXCHANGEABLE")
    issued = await issue_coupon(
        work,
        customer_id=customer_id,
        template=template,
        issue_key=scoped_key("exchange", idempotency_key),
        source="points_exchange",
        now=now,
    )
    spent = await work.spend_points(
        customer_id,
        price,
        "coupon exchange",
        f"coupon:{issued.coupon.code}",
        scoped_key("coupon-exchange", idempotency_key),
    )
    if not issued.replayed:
        await work.record_payment(issued.coupon.code, spent.entry_id)
    return Exchanged(issued.coupon, price, spent.entry_id, spent.balance, issued.replayed)


async def redeem_coupon(
    work: CouponWork, *, code: str, order_id: str, amount_minor: int, now: datetime
) -> Redemption:
    """Redeem the coupon on an order, exactly once (Conflict with the reason otherwise; NotFound for
    an unknown or another tenant's code). A first-order coupon needs the customer to have no paid
    order recorded by loyalty other than this one. The same redemption again (same order and
    amount: a client's retry) answers the first one and changes nothing; another order or amount
    is COUPON_REDEEMED."""
    locked = await work.lock(code)
    if locked is None:
        raise NotFound("coupon not found")
    coupon = locked.coupon
    if coupon.repeats_redemption(order_id, amount_minor):
        assert coupon.discount_minor is not None
        return Redemption(coupon, coupon.discount_minor, locked.currency)
    other_order = False
    if locked.terms.kind == "first_order" and coupon.customer_id is not None:
        other_order = await work.has_other_order(coupon.customer_id, order_id)
    discount = redemption_discount(
        coupon, locked.terms, amount_minor=amount_minor, now=now, has_other_order=other_order
    )
    redeemed = await work.mark_redeemed(coupon, order_id, amount_minor, discount, now)
    await work.announce_redeemed(redeemed, locked.currency)
    return Redemption(redeemed, discount, locked.currency)

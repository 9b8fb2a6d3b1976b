"""Earning and taking back points for orders, refunds, reviews and shares: the use cases the
events consumer runs, once per event, inside its transaction (an ``EarningWork`` bound to it).

- An order earns once: its claim (``EarningWork.claim_order``) is taken before anything is
  credited, and the earn entry's idempotency key is the order's.
- A refund takes back in proportion, cumulatively (``earning.reversal_due``), from the order's own
  lot first. Points already spent cannot be taken: the shortfall becomes the account's debt, repaid
  from the next credits; the balance never goes negative.
- An order in another currency than the tenant's earns nothing (no exchange rates are held; see
  docs/currencies.md): it is still claimed, with 0 points, and ``note_unearned`` says why.
- Reviews and shares earn within the day's cap, per customer and tenant-local day; the day's
  counter is locked when read, so two awards of one customer and day never pass the cap together.

The rules (what is earned, under which reason, source and key, expiring when) live here; the
statements live in ``services.loyalty.store.earning`` and the ledger.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from services.loyalty.domain.earning import (
    PaidOrder,
    Refund,
    RefundOutcome,
    capped,
    order_points,
    reversal_due,
)
from services.loyalty.domain.expiry import expires_at, local_date
from services.loyalty.domain.ledger import Clawback, LedgerResult, Movement, entry_id_for
from services.loyalty.domain.program import TenantProgram, Tier, minor_per_unit
from services.runtime.currencies import counts_as_money

# Why an order earned nothing although it was paid (``EarningWork.note_unearned``).
UNEARNED_FOREIGN_CURRENCY = "foreign_currency"


@dataclass(frozen=True, slots=True)
class OrderClaim:
    """An order's earning as claimed: who, the amount counted, the points earned and its lot."""

    order_id: str
    customer_id: uuid.UUID
    amount_minor: int
    earned: int
    paid_at: datetime
    lot_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class ClaimedOrder:
    """An order's earning and its refunds so far, locked for a refund."""

    customer_id: uuid.UUID
    amount_minor: int
    earned: int
    refunded_minor: int
    reversed: int
    lot_id: uuid.UUID | None


class EarningWork(Protocol):
    """What earning does to loyalty's tables, in one open transaction."""

    async def claim_order(self, tenant_id: uuid.UUID, claim: OrderClaim) -> bool:
        """Record the order's earning; False when the order was already claimed (nothing written)."""
        ...

    async def note_unearned(self, tenant_id: uuid.UUID, order_id: str, reason: str) -> None:
        """Say that a paid order earned nothing and why (for operators; nothing is booked)."""
        ...

    async def credit(self, movement: Movement, points: int, expires_at: datetime | None) -> LedgerResult:
        """Book ``points`` as a new lot (a replay of the key answers the first booking)."""
        ...

    async def claimed_order(self, tenant_id: uuid.UUID, order_id: str) -> ClaimedOrder | None:
        """The order's claim, locked until the transaction ends; None when it never earned here."""
        ...

    async def record_refund(self, tenant_id: uuid.UUID, order_id: str, refunded_minor: int, due: int) -> None:
        """Store the order's refunded total and add ``due`` to what was taken back."""
        ...

    async def take_back(self, movement: Movement, points: int, prefer: uuid.UUID | None) -> Clawback:
        """Take up to ``points`` (from ``prefer``'s lot first); the rest becomes debt."""
        ...

    async def awarded_today(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, day: date, kind: str) -> int:
        """Points of ``kind`` awarded on the local ``day`` so far; the day's counter stays locked."""
        ...

    async def add_award(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, day: date, kind: str, points: int
    ) -> None:
        """Count ``points`` more of ``kind`` on the local ``day``."""
        ...


def order_reason(tier: Tier, *, birthday: bool) -> str:
    """The earn entry's reason: the tier (and multiplier) the order earned under."""
    extra = ", birthday" if birthday else ""
    return f"order paid ({tier.code} tier x{tier.points_multiplier_percent}%{extra})"


async def earn_for_order(
    work: EarningWork, context: TenantProgram, order: PaidOrder, tier: Tier, *, birthday: bool
) -> int:
    """Credit what ``order`` earns under ``tier`` (held before this order); 0 when it was already
    credited or earns nothing (an order in another currency than the tenant's earns nothing)."""
    program = context.program
    tenant_id = context.tenant.tenant_id
    foreign = not counts_as_money(order.currency, context.tenant.currency)
    points = (
        0
        if foreign
        else order_points(
            order.amount_minor,
            minor_per_unit(context.tenant.currency),
            program.earn,
            tier_multiplier_percent=tier.points_multiplier_percent,
            birthday=birthday,
        )
    )
    key = f"order:{order.order_id}:earn"
    claim = OrderClaim(
        order_id=order.order_id,
        customer_id=order.customer_id,
        amount_minor=max(order.amount_minor, 0),
        earned=points,
        paid_at=order.paid_at,
        lot_id=entry_id_for(tenant_id, key) if points > 0 else None,
    )
    if not await work.claim_order(tenant_id, claim):
        return 0
    if foreign:
        await work.note_unearned(tenant_id, order.order_id, UNEARNED_FOREIGN_CURRENCY)
    if points == 0:
        return 0
    movement = Movement(
        tenant_id=tenant_id,
        customer_id=order.customer_id,
        entry_type="earn",
        reason=order_reason(tier, birthday=birthday),
        source=f"order:{order.order_id}",
        idempotency_key=key,
        program_version=program.version,
        occurred_at=order.paid_at,
    )
    await work.credit(movement, points, expires_at(program.expiry, order.paid_at, context.tenant.timezone))
    return points


async def reverse_for_refund(work: EarningWork, context: TenantProgram, refund: Refund) -> RefundOutcome:
    """Take back the refund's share of what the order earned (see the module's policy)."""
    tenant_id = context.tenant.tenant_id
    order = await work.claimed_order(tenant_id, refund.order_id)
    if order is None:
        return RefundOutcome(None, 0, 0)
    refunded = min(order.refunded_minor + max(refund.amount_minor, 0), order.amount_minor)
    due = reversal_due(
        order.earned,
        order.amount_minor,
        refunded,
        fully_refunded=refund.fully_refunded,
        reversed_so_far=order.reversed,
    )
    await work.record_refund(tenant_id, refund.order_id, refunded, due)
    if due == 0:
        return RefundOutcome(order.customer_id, 0, 0)
    key = f"refund:{refund.order_id}:{refund.refund_id}"
    movement = Movement(
        tenant_id=tenant_id,
        customer_id=order.customer_id,
        entry_type="reverse",
        reason="order refunded",
        source=key,
        idempotency_key=key,
        program_version=context.program.version,
        occurred_at=refund.refunded_at,
    )
    clawback = await work.take_back(movement, due, order.lot_id)
    return RefundOutcome(order.customer_id, clawback.taken, clawback.owed)


async def earn_capped(
    work: EarningWork,
    context: TenantProgram,
    *,
    customer_id: uuid.UUID,
    kind: str,
    points: int,
    cap: int,
    event_id: str,
    occurred_at: datetime,
) -> int:
    """Credit a review's or share's points within the day's cap; returns the points credited."""
    if points <= 0:
        return 0
    tenant = context.tenant
    day = local_date(occurred_at, tenant.timezone)
    already = await work.awarded_today(tenant.tenant_id, customer_id, day, kind)
    award = capped(points, already, cap)
    if award == 0:
        return 0
    await work.add_award(tenant.tenant_id, customer_id, day, kind, award)
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
    await work.credit(movement, award, expires_at(context.program.expiry, occurred_at, tenant.timezone))
    return award

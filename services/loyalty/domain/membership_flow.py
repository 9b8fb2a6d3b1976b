"""Membership's use cases on what happens to a customer: a paid order, a refund and a review move
progress (and may upgrade at once); a merge hands everything to the survivor; an erasure forgets.

Each runs in the caller's transaction (the events consumer's, so that an order's effect and the
stream position commit together) through a ``MembershipWork`` bound to it
(``services.loyalty.store.membership`` implements it). The member's row is locked first, so facts of
one customer are applied one at a time whatever runs concurrently. The tier rules themselves are
``services.loyalty.domain.tiers``; this module says in which order they are applied and stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.loyalty.domain.program import Program, minor_per_unit
from services.loyalty.domain.tiers import (
    REASON_MERGE,
    MemberState,
    Progress,
    TierChange,
    merged_state,
    order_progress,
    refund_progress,
    review_progress,
    tier_rank,
    upgrade_on_progress,
    window_start,
)
from services.runtime.currencies import counts_as_money


@dataclass(frozen=True, slots=True)
class LockedMember:
    """A member's row, locked (created at the base tier when new), with their progress over the
    window ending at the fact's time, the tenant's currency and whether the order is known."""

    state: MemberState
    progress: Progress
    currency: str
    order_known: bool


@dataclass(frozen=True, slots=True)
class OrderFact:
    """A recorded order's own progress fact, its payment time and the spend refunded so far."""

    occurred_at: datetime
    progress: Progress
    refunded_minor: int


class MembershipWork(Protocol):
    """What membership does to loyalty's tables, in one open transaction."""

    async def lock_member(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        *,
        base_tier: str,
        at: datetime,
        window_from: datetime,
        order_id: str | None = None,
    ) -> LockedMember:
        """Lock the member (creating them at ``base_tier``) and sum their facts in
        ``(window_from, at]``; ``order_known`` says whether ``order_id`` has a fact already."""
        ...

    async def insert_fact(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        *,
        kind: str,
        order_id: str | None,
        occurred_at: datetime,
        progress: Progress,
    ) -> None:
        """Record one progress fact (a fact already recorded stays as it is)."""
        ...

    async def order_fact(self, tenant_id: uuid.UUID, order_id: str) -> OrderFact | None:
        """The order's fact with its refunds so far; None when loyalty never recorded the order."""
        ...

    async def apply_change(
        self,
        program: Program,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        state: MemberState,
        change: TierChange,
    ) -> None:
        """Store the new tier state, record ``change`` in the history and announce it (when the
        work has an outbox)."""
        ...

    async def current_program(self, tenant_id: uuid.UUID) -> Program: ...

    async def lock_members(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, MemberState]:
        """Lock the members among ``customer_ids`` (in id order) and answer their states."""
        ...

    async def hand_over(
        self, tenant_id: uuid.UUID, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID]
    ) -> None:
        """Move the merged customers' facts, tier history, coupons and holdings to the survivor."""
        ...

    async def drop_members(self, tenant_id: uuid.UUID, customer_ids: list[uuid.UUID]) -> None: ...

    async def insert_member(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, state: MemberState
    ) -> None: ...

    async def forget(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None:
        """Delete the customer's facts, tier history and membership; detach their coupons."""
        ...


async def _lock(
    work: MembershipWork,
    program: Program,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    at: datetime,
    order_id: str | None = None,
) -> LockedMember:
    return await work.lock_member(
        tenant_id,
        customer_id,
        base_tier=program.ladder.base.code,
        at=at,
        window_from=window_start(at, program.ladder),
        order_id=order_id,
    )


async def _upgrade_with(
    work: MembershipWork,
    program: Program,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    member: LockedMember,
    fact: Progress,
    at: datetime,
) -> None:
    """When the locked member's progress plus ``fact`` reaches a higher tier, upgrade them at once."""
    after = member.progress.plus(fact)
    state, change = upgrade_on_progress(program, member.state, after.value(program.ladder.metric), at)
    if change is not None:
        await work.apply_change(program, tenant_id, customer_id, state, change)


async def record_order(
    work: MembershipWork,
    program: Program,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    order_id: str,
    paid_at: datetime,
    amount_minor: int,
    currency: str = "",
) -> None:
    """A paid order moves progress; when it reaches a higher tier the member is upgraded at once
    (tier history + tier.changed). Recorded once per order id: a repeat changes nothing. An order
    in another currency than the tenant's (``currency``; empty: the tenant's) moves no progress —
    Patron converts no currencies (docs/currencies.md)."""
    member = await _lock(work, program, tenant_id, customer_id, paid_at, order_id)
    if member.order_known or not counts_as_money(currency, member.currency):
        return
    fact = order_progress(program, amount_minor, minor_per_unit(member.currency))
    await work.insert_fact(
        tenant_id, customer_id, kind="order", order_id=order_id, occurred_at=paid_at, progress=fact
    )
    await _upgrade_with(work, program, tenant_id, customer_id, member, fact, paid_at)


async def record_refund(
    work: MembershipWork,
    program: Program,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    order_id: str,
    refunded_minor: int,
    refunded_at: datetime,
) -> None:
    """A refund takes progress back, at the refunded order's payment time (so it nets against that
    order's window). It never downgrades: only a review does. A refund of an order loyalty never
    recorded changes nothing (that order never counted)."""
    if await work.order_fact(tenant_id, order_id) is None:
        return
    await _lock(work, program, tenant_id, customer_id, refunded_at)
    # Re-read under the member's lock: another refund of the order may have just committed.
    order = await work.order_fact(tenant_id, order_id)
    if order is None:
        return
    delta, _ = refund_progress(order.progress, order.refunded_minor, refunded_minor)
    if delta == Progress():
        return
    await work.insert_fact(
        tenant_id,
        customer_id,
        kind="refund",
        order_id=order_id,
        occurred_at=order.occurred_at,
        progress=delta,
    )


async def record_review(
    work: MembershipWork,
    program: Program,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    occurred_at: datetime,
) -> None:
    """A review adds the programme's growth value. On a growth ladder it may reach a higher tier:
    the upgrade happens at once."""
    fact = review_progress(program)
    if fact == Progress():
        return
    member = await _lock(work, program, tenant_id, customer_id, occurred_at)
    await work.insert_fact(
        tenant_id, customer_id, kind="review", order_id=None, occurred_at=occurred_at, progress=fact
    )
    await _upgrade_with(work, program, tenant_id, customer_id, member, fact, occurred_at)


async def merge_customers(
    work: MembershipWork,
    *,
    tenant_id: uuid.UUID,
    survivor_id: uuid.UUID,
    merged_ids: Sequence[uuid.UUID],
    merged_at: datetime | None = None,
) -> None:
    """Move the merged customers' progress, tier history, coupons and coupon holdings to the
    survivor, who keeps the highest tier any of them held (with that member's tier dates). When the
    survivor's tier rises, the change is recorded (reason ``merge``)."""
    merged = sorted({m for m in merged_ids if m != survivor_id})
    if not merged:
        return
    program = await work.current_program(tenant_id)
    by_customer = await work.lock_members(tenant_id, [survivor_id, *merged])
    await work.hand_over(tenant_id, survivor_id, merged)
    if not any(m in by_customer for m in merged):
        return
    await work.drop_members(tenant_id, merged)
    own = by_customer.get(survivor_id)
    candidates = [s for s in [own, *(by_customer.get(m) for m in merged)] if s is not None]
    best = merged_state(program.ladder, candidates)
    if own is None:
        await work.insert_member(tenant_id, survivor_id, best)
        return
    if tier_rank(program.ladder, best.tier_code) <= tier_rank(program.ladder, own.tier_code):
        return
    change = TierChange(
        own.tier_code, best.tier_code, "upgrade", REASON_MERGE, 0, merged_at or best.tier_since
    )
    await work.apply_change(program, tenant_id, survivor_id, best, change)


async def erase_customer(work: MembershipWork, *, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    """Erase what membership holds about the customer (progress facts, tier history, the
    membership) and detach their coupons (unused ones are revoked; redeemed ones stay, without the
    customer, so that a template's figures and budget stay true)."""
    await work.forget(tenant_id, customer_id)

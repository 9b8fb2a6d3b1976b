"""Membership in the database: progress facts, tier state, tier history and tier.changed events.

Every function runs in the caller's transaction (the events consumer's, so that an order's effect
and the stream position commit together). A member's row is locked first (an upsert), so facts of
one customer are applied one at a time whatever runs concurrently. The rules live in
``services.loyalty.domain.tiers``; this module reads and writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import loyalty_events_pb2
from services.loyalty.domain.program import Program, Tier, minor_per_unit
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
from services.loyalty.store.customer_coupons import erase_customer_coupons, merge_customer_coupons
from services.loyalty.store.membership_tables import membership_facts, memberships, tier_history
from services.loyalty.store.programs import current_program
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.proto_convert import set_time

_LOCK_MEMBER = sa.text(
    """
    WITH member AS (
        INSERT INTO memberships (tenant_id, customer_id, tier_code, tier_since)
        VALUES (:tenant_id, :customer_id, :base, :at)
        ON CONFLICT (tenant_id, customer_id) DO UPDATE SET updated_at = now()
        RETURNING tier_code, tier_since, next_review_at, grace_until
    )
    SELECT member.*,
        (SELECT currency FROM tenants WHERE tenant_id = :tenant_id) AS currency,
        EXISTS (
            SELECT 1 FROM membership_facts
            WHERE tenant_id = :tenant_id AND kind = 'order' AND order_id = :order_id
        ) AS order_known,
        window_sum.*
    FROM member, LATERAL (
        SELECT COALESCE(sum(spend_minor), 0)::bigint AS spend_minor,
               COALESCE(sum(orders), 0)::bigint AS orders,
               COALESCE(sum(growth), 0)::bigint AS growth
        FROM membership_facts
        WHERE tenant_id = :tenant_id AND customer_id = :customer_id
          AND occurred_at > :window_start AND occurred_at <= :at
    ) AS window_sum
    """
)

_ORDER_FACT = sa.text(
    """
    SELECT o.occurred_at, o.spend_minor, o.orders, o.growth,
        (SELECT COALESCE(-sum(r.spend_minor), 0)::bigint FROM membership_facts AS r
         WHERE r.tenant_id = :tenant_id AND r.kind = 'refund' AND r.order_id = :order_id) AS refunded
    FROM membership_facts AS o
    WHERE o.tenant_id = :tenant_id AND o.kind = 'order' AND o.order_id = :order_id
    """
)


def member_state(row: Any) -> MemberState:
    """The tier state a ``memberships`` row (or the member lock's answer) holds."""
    return MemberState(row.tier_code, row.tier_since, row.next_review_at, row.grace_until)


async def _lock_member(
    connection: AsyncConnection,
    program: Program,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    at: datetime,
    order_id: str | None = None,
) -> Any:
    """Lock (creating at the base tier) the member's row; with their progress in the window ending
    at ``at``, the tenant's currency and whether ``order_id`` is already recorded."""
    return (
        await connection.execute(
            _LOCK_MEMBER,
            {
                "tenant_id": tenant_id,
                "customer_id": customer_id,
                "base": program.ladder.base.code,
                "at": at,
                "window_start": window_start(at, program.ladder),
                "order_id": order_id,
            },
        )
    ).one()


async def _insert_fact(
    connection: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    kind: str,
    order_id: str | None,
    occurred_at: datetime,
    progress: Progress,
) -> None:
    statement = (
        pg.insert(membership_facts)
        .values(
            tenant_id=tenant_id,
            customer_id=customer_id,
            kind=kind,
            order_id=order_id,
            occurred_at=occurred_at,
            spend_minor=progress.spend_minor,
            orders=progress.orders,
            growth=progress.growth,
        )
        .on_conflict_do_nothing()
    )
    await connection.execute(statement)


def tier_changed_event(tenant_id: uuid.UUID, customer_id: uuid.UUID, change: TierChange) -> NewEvent:
    """The tier.changed event announcing ``change``."""
    payload = loyalty_events_pb2.TierChanged(
        from_tier=change.from_tier, to_tier=change.to_tier, direction=change.direction, reason=change.reason
    )
    set_time(payload, "changed_at", change.changed_at)
    return NewEvent(tenant_id, "tier.changed", customer_id, payload, occurred_at=change.changed_at)


def history_row(
    program: Program, tenant_id: uuid.UUID, customer_id: uuid.UUID, change: TierChange
) -> dict[str, Any]:
    """A tier_history row for ``change``."""
    return {
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "from_tier": change.from_tier,
        "to_tier": change.to_tier,
        "direction": change.direction,
        "reason": change.reason,
        "metric": program.ladder.metric,
        "value": change.value,
        "program_version": program.version,
        "changed_at": change.changed_at,
    }


async def _apply_change(
    connection: AsyncConnection,
    outbox: Outbox | None,
    program: Program,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    state: MemberState,
    change: TierChange,
) -> None:
    """Store the new tier, record it in the history and announce it, in the caller's transaction."""
    await connection.execute(
        sa.update(memberships)
        .where(memberships.c.tenant_id == tenant_id, memberships.c.customer_id == customer_id)
        .values(
            tier_code=state.tier_code,
            tier_since=state.tier_since,
            next_review_at=state.next_review_at,
            grace_until=state.grace_until,
            updated_at=sa.func.now(),
        )
    )
    await connection.execute(
        sa.insert(tier_history).values(history_row(program, tenant_id, customer_id, change))
    )
    if outbox is not None:
        await outbox.append(connection, [tier_changed_event(tenant_id, customer_id, change)])


async def tier_of(
    connection: AsyncConnection, program: Program, *, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> Tier:
    """The tier the customer holds now (the base tier when they never made progress)."""
    row = (
        await connection.execute(
            sa.select(memberships.c.tier_code).where(
                memberships.c.tenant_id == tenant_id, memberships.c.customer_id == customer_id
            )
        )
    ).first()
    if row is None:
        return program.ladder.base
    return program.ladder.tiers[tier_rank(program.ladder, row.tier_code)]


async def _upgrade_with(
    connection: AsyncConnection,
    outbox: Outbox | None,
    program: Program,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    row: Any,
    fact: Progress,
    at: datetime,
) -> None:
    """When the locked member's progress (``row``) plus ``fact`` reaches a higher tier, upgrade them
    at once (announced when ``outbox`` is given)."""
    after = Progress(row.spend_minor, row.orders, row.growth).plus(fact)
    state, change = upgrade_on_progress(program, member_state(row), after.value(program.ladder.metric), at)
    if change is not None:
        await _apply_change(connection, outbox, program, tenant_id, customer_id, state, change)


async def record_order(
    connection: AsyncConnection,
    outbox: Outbox,
    program: Program,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    order_id: str,
    paid_at: datetime,
    amount_minor: int,
) -> None:
    """A paid order moves progress; when it reaches a higher tier the member is upgraded at once
    (tier history + tier.changed). Recorded once per order id: a repeat changes nothing."""
    row = await _lock_member(connection, program, tenant_id, customer_id, paid_at, order_id)
    if row.order_known:
        return
    fact = order_progress(program, amount_minor, minor_per_unit(row.currency.strip()))
    await _insert_fact(
        connection,
        tenant_id=tenant_id,
        customer_id=customer_id,
        kind="order",
        order_id=order_id,
        occurred_at=paid_at,
        progress=fact,
    )
    await _upgrade_with(connection, outbox, program, tenant_id, customer_id, row, fact, paid_at)


async def record_refund(
    connection: AsyncConnection,
    outbox: Outbox,
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
    order = (await connection.execute(_ORDER_FACT, {"tenant_id": tenant_id, "order_id": order_id})).first()
    if order is None:
        return
    await _lock_member(connection, program, tenant_id, customer_id, refunded_at)
    # Re-read under the member's lock: another refund of the order may have just committed.
    order = (await connection.execute(_ORDER_FACT, {"tenant_id": tenant_id, "order_id": order_id})).one()
    delta, _ = refund_progress(
        Progress(order.spend_minor, order.orders, order.growth), order.refunded, refunded_minor
    )
    if delta == Progress():
        return
    await _insert_fact(
        connection,
        tenant_id=tenant_id,
        customer_id=customer_id,
        kind="refund",
        order_id=order_id,
        occurred_at=order.occurred_at,
        progress=delta,
    )


async def record_review(
    connection: AsyncConnection,
    program: Program,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    occurred_at: datetime,
    outbox: Outbox | None = None,
) -> None:
    """A review adds the programme's growth value. On a growth ladder it may reach a higher tier:
    the upgrade happens at once, and is announced when ``outbox`` is given."""
    fact = review_progress(program)
    if fact == Progress():
        return
    row = await _lock_member(connection, program, tenant_id, customer_id, occurred_at)
    await _insert_fact(
        connection,
        tenant_id=tenant_id,
        customer_id=customer_id,
        kind="review",
        order_id=None,
        occurred_at=occurred_at,
        progress=fact,
    )
    await _upgrade_with(connection, outbox, program, tenant_id, customer_id, row, fact, occurred_at)


async def merge_customers(
    connection: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    survivor_id: uuid.UUID,
    merged_ids: Sequence[uuid.UUID],
    outbox: Outbox | None = None,
    merged_at: datetime | None = None,
) -> None:
    """Move the merged customers' progress, tier history, coupons and coupon holdings to the
    survivor, who keeps the highest tier any of them held (with that member's tier dates). When the
    survivor's tier rises, the change is recorded (reason ``merge``) and announced if ``outbox`` is
    given."""
    merged = sorted({m for m in merged_ids if m != survivor_id})
    if not merged:
        return
    program = await current_program(connection, tenant_id)
    everyone = [survivor_id, *merged]
    rows = (
        await connection.execute(
            sa.select(memberships)
            .where(memberships.c.tenant_id == tenant_id, memberships.c.customer_id.in_(everyone))
            .order_by(memberships.c.customer_id)
            .with_for_update()
        )
    ).all()
    for table in (membership_facts, tier_history):
        await connection.execute(
            sa.update(table)
            .where(table.c.tenant_id == tenant_id, table.c.customer_id.in_(merged))
            .values(customer_id=survivor_id)
        )
    await merge_customer_coupons(connection, tenant_id=tenant_id, survivor_id=survivor_id, merged_ids=merged)
    by_customer = {row.customer_id: member_state(row) for row in rows}
    if not any(m in by_customer for m in merged):
        return
    await connection.execute(
        sa.delete(memberships).where(
            memberships.c.tenant_id == tenant_id, memberships.c.customer_id.in_(merged)
        )
    )
    own = by_customer.get(survivor_id)
    candidates = [s for s in [own, *(by_customer.get(m) for m in merged)] if s is not None]
    best = merged_state(program.ladder, candidates)
    if own is None:
        await connection.execute(
            sa.insert(memberships).values(
                tenant_id=tenant_id,
                customer_id=survivor_id,
                tier_code=best.tier_code,
                tier_since=best.tier_since,
                next_review_at=best.next_review_at,
                grace_until=best.grace_until,
            )
        )
        return
    if tier_rank(program.ladder, best.tier_code) <= tier_rank(program.ladder, own.tier_code):
        return
    change = TierChange(
        own.tier_code, best.tier_code, "upgrade", REASON_MERGE, 0, merged_at or best.tier_since
    )
    await _apply_change(connection, outbox, program, tenant_id, survivor_id, best, change)


async def erase_customer(
    connection: AsyncConnection, *, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> None:
    """Erase what membership holds about the customer (progress facts, tier history, the
    membership) and detach their coupons (unused ones are revoked; redeemed ones stay, without the
    customer, so that a template's figures and budget stay true)."""
    for table in (membership_facts, tier_history, memberships):
        await connection.execute(
            sa.delete(table).where(table.c.tenant_id == tenant_id, table.c.customer_id == customer_id)
        )
    await erase_customer_coupons(connection, tenant_id=tenant_id, customer_id=customer_id)

"""Membership in the database: progress facts, tier state, tier history and tier.changed events.

``SqlMembershipWork`` implements ``services.loyalty.domain.membership_flow.MembershipWork`` in the
caller's transaction (the events consumer's, so that an order's effect and the stream position
commit together); the use cases and rules live in ``domain/membership_flow`` and
``domain/tiers``. A member's row is locked first (an upsert that also sums their window's
progress, in one statement), so facts of one customer are applied one at a time.
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
from services.loyalty.domain.membership_flow import LockedMember, OrderFact
from services.loyalty.domain.program import Program, Tier
from services.loyalty.domain.tiers import MemberState, Progress, TierChange, tier_rank
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


class SqlMembershipWork:
    """Membership's statements bound to one open transaction; tier changes are announced in
    ``outbox`` when one is given."""

    def __init__(self, connection: AsyncConnection, outbox: Outbox | None) -> None:
        self._connection = connection
        self._outbox = outbox

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
        row = (
            await self._connection.execute(
                _LOCK_MEMBER,
                {
                    "tenant_id": tenant_id,
                    "customer_id": customer_id,
                    "base": base_tier,
                    "at": at,
                    "window_start": window_from,
                    "order_id": order_id,
                },
            )
        ).one()
        return LockedMember(
            state=member_state(row),
            progress=Progress(int(row.spend_minor), int(row.orders), int(row.growth)),
            currency=str(row.currency).strip(),
            order_known=bool(row.order_known),
        )

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
        await self._connection.execute(statement)

    async def order_fact(self, tenant_id: uuid.UUID, order_id: str) -> OrderFact | None:
        row = (
            await self._connection.execute(_ORDER_FACT, {"tenant_id": tenant_id, "order_id": order_id})
        ).first()
        if row is None:
            return None
        return OrderFact(
            occurred_at=row.occurred_at,
            progress=Progress(int(row.spend_minor), int(row.orders), int(row.growth)),
            refunded_minor=int(row.refunded),
        )

    async def apply_change(
        self,
        program: Program,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        state: MemberState,
        change: TierChange,
    ) -> None:
        await self._connection.execute(
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
        await self._connection.execute(
            sa.insert(tier_history).values(history_row(program, tenant_id, customer_id, change))
        )
        if self._outbox is not None:
            await self._outbox.append(self._connection, [tier_changed_event(tenant_id, customer_id, change)])

    async def current_program(self, tenant_id: uuid.UUID) -> Program:
        return await current_program(self._connection, tenant_id)

    async def lock_members(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, MemberState]:
        rows = (
            await self._connection.execute(
                sa.select(memberships)
                .where(memberships.c.tenant_id == tenant_id, memberships.c.customer_id.in_(customer_ids))
                .order_by(memberships.c.customer_id)
                .with_for_update()
            )
        ).all()
        return {row.customer_id: member_state(row) for row in rows}

    async def hand_over(
        self, tenant_id: uuid.UUID, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID]
    ) -> None:
        for table in (membership_facts, tier_history):
            await self._connection.execute(
                sa.update(table)
                .where(table.c.tenant_id == tenant_id, table.c.customer_id.in_(merged_ids))
                .values(customer_id=survivor_id)
            )
        await merge_customer_coupons(
            self._connection, tenant_id=tenant_id, survivor_id=survivor_id, merged_ids=merged_ids
        )

    async def drop_members(self, tenant_id: uuid.UUID, customer_ids: list[uuid.UUID]) -> None:
        await self._connection.execute(
            sa.delete(memberships).where(
                memberships.c.tenant_id == tenant_id, memberships.c.customer_id.in_(customer_ids)
            )
        )

    async def insert_member(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, state: MemberState) -> None:
        await self._connection.execute(
            sa.insert(memberships).values(
                tenant_id=tenant_id,
                customer_id=customer_id,
                tier_code=state.tier_code,
                tier_since=state.tier_since,
                next_review_at=state.next_review_at,
                grace_until=state.grace_until,
            )
        )

    async def forget(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None:
        for table in (membership_facts, tier_history, memberships):
            await self._connection.execute(
                sa.delete(table).where(table.c.tenant_id == tenant_id, table.c.customer_id == customer_id)
            )
        await erase_customer_coupons(self._connection, tenant_id=tenant_id, customer_id=customer_id)

"""A member's tier, progress and tier history as the MembershipService reads them.

``SqlMembershipStore`` implements ``services.loyalty.domain.membership_desk.MembershipStore``: each
read is one transaction, the customer resolved through the directory in it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.program import Program
from services.loyalty.domain.tiers import MembershipView, Progress, TierChange, describe, window_start
from services.loyalty.store.customer_directory import CustomerDirectory
from services.loyalty.store.membership import member_state
from services.loyalty.store.membership_tables import membership_facts, memberships, tier_history
from services.loyalty.store.programs import current_program
from services.runtime.database import Database
from services.runtime.paging import Page, decode_cursor, page_from_rows


class SqlMembershipStore:
    """Membership reads of the loyalty database."""

    def __init__(self, database: Database, directory: CustomerDirectory) -> None:
        self._database = database
        self._directory = directory

    async def membership(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime
    ) -> tuple[uuid.UUID, MembershipView]:
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(connection, tenant_id, customer_id)
            program = await current_program(connection, tenant_id)
            view = await membership_view(
                connection, program, tenant_id=tenant_id, customer_id=customer, now=now
            )
        return customer, view

    async def tier_history(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, limit: int, cursor: str
    ) -> Page[tuple[TierChange, int]]:
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(connection, tenant_id, customer_id)
            return await history_page(
                connection, tenant_id=tenant_id, customer_id=customer, limit=limit, cursor=cursor
            )


async def membership_view(
    connection: AsyncConnection,
    program: Program,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    now: datetime,
) -> MembershipView:
    """The member's tier, benefits, progress in the window ending ``now`` and review dates."""
    state_row = (
        await connection.execute(
            sa.select(memberships).where(
                memberships.c.tenant_id == tenant_id, memberships.c.customer_id == customer_id
            )
        )
    ).first()
    sums = (
        await connection.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(membership_facts.c.spend_minor), 0),
                sa.func.coalesce(sa.func.sum(membership_facts.c.orders), 0),
                sa.func.coalesce(sa.func.sum(membership_facts.c.growth), 0),
            ).where(
                membership_facts.c.tenant_id == tenant_id,
                membership_facts.c.customer_id == customer_id,
                membership_facts.c.occurred_at > window_start(now, program.ladder),
                membership_facts.c.occurred_at <= now,
            )
        )
    ).one()
    state = member_state(state_row) if state_row is not None else None
    return describe(program, state, Progress(int(sums[0]), int(sums[1]), int(sums[2])))


async def history_page(
    connection: AsyncConnection, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, limit: int, cursor: str
) -> Page[tuple[TierChange, int]]:
    """The member's tier changes, newest first, with the programme version each was decided under."""
    after = decode_cursor(cursor, (int,))
    query = (
        sa.select(tier_history)
        .where(tier_history.c.tenant_id == tenant_id, tier_history.c.customer_id == customer_id)
        .order_by(tier_history.c.change_id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(tier_history.c.change_id < after[0])
    rows = (await connection.execute(query)).all()
    return page_from_rows(
        rows,
        limit,
        lambda r: (
            TierChange(r.from_tier, r.to_tier, r.direction, r.reason, r.value, r.changed_at),
            r.program_version,
        ),
        lambda r: [r.change_id],
    )

"""The tier review job: decides every due review, in batches, set-based, safe to run twice.

A batch takes up to ``batch_size`` due members (``next_review_at <= now``) with ``FOR UPDATE SKIP
LOCKED`` (two runners never take the same member; a member whose consumer transaction is busy waits
for the next batch), measures all their windows in one query, lets the domain decide each review,
then writes states, history and tier.changed events in a few statements of the same transaction.
A review moves ``next_review_at`` strictly forward (or clears it), so a second run finds nothing to
redo; it is evaluated at its scheduled instant, so a late run decides as an on-time one would.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.program import Program
from services.loyalty.domain.tiers import MemberState, Progress, review, window_start
from services.loyalty.store.membership import history_row, tier_changed_event
from services.loyalty.store.membership_tables import tier_history
from services.loyalty.store.programs import current_program
from services.runtime.database import Database
from services.runtime.events.outbox import NewEvent, Outbox

BATCH_SIZE = 500

_DUE = sa.text(
    """
    SELECT tenant_id, customer_id, tier_code, tier_since, next_review_at, grace_until
    FROM memberships
    WHERE next_review_at <= :now
    ORDER BY next_review_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)

_WINDOWS = sa.text(
    """
    SELECT d.i,
        COALESCE(sum(f.spend_minor), 0)::bigint AS spend_minor,
        COALESCE(sum(f.orders), 0)::bigint AS orders,
        COALESCE(sum(f.growth), 0)::bigint AS growth
    FROM unnest(
        CAST(:tenant_ids AS uuid[]), CAST(:customer_ids AS uuid[]),
        CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])
    ) WITH ORDINALITY AS d(tenant_id, customer_id, start_at, end_at, i)
    LEFT JOIN membership_facts AS f
        ON f.tenant_id = d.tenant_id AND f.customer_id = d.customer_id
        AND f.occurred_at > d.start_at AND f.occurred_at <= d.end_at
    GROUP BY d.i
    """
)

_WRITE_STATES = sa.text(
    """
    UPDATE memberships AS m
    SET tier_code = s.tier_code, tier_since = s.tier_since, next_review_at = s.next_review_at,
        grace_until = s.grace_until, updated_at = now()
    FROM unnest(
        CAST(:tenant_ids AS uuid[]), CAST(:customer_ids AS uuid[]), CAST(:tier_codes AS text[]),
        CAST(:tier_sinces AS timestamptz[]), CAST(:next_reviews AS timestamptz[]),
        CAST(:graces AS timestamptz[])
    ) AS s(tenant_id, customer_id, tier_code, tier_since, next_review_at, grace_until)
    WHERE m.tenant_id = s.tenant_id AND m.customer_id = s.customer_id
    """
)


async def review_batch(connection: AsyncConnection, outbox: Outbox, *, now: datetime, limit: int) -> int:
    """Decide up to ``limit`` due reviews in the caller's transaction; returns how many."""
    due = (await connection.execute(_DUE, {"now": now, "limit": limit})).all()
    if not due:
        return 0
    programs: dict[uuid.UUID, Program] = {}
    for tenant_id in {row.tenant_id for row in due}:
        programs[tenant_id] = await current_program(connection, tenant_id)
    states = [MemberState(r.tier_code, r.tier_since, r.next_review_at, r.grace_until) for r in due]
    sums = {
        row.i: Progress(row.spend_minor, row.orders, row.growth)
        for row in await connection.execute(
            _WINDOWS,
            {
                "tenant_ids": [r.tenant_id for r in due],
                "customer_ids": [r.customer_id for r in due],
                "starts": [window_start(r.next_review_at, programs[r.tenant_id].ladder) for r in due],
                "ends": [r.next_review_at for r in due],
            },
        )
    }
    decided: list[MemberState] = []
    history: list[dict[str, Any]] = []
    events: list[NewEvent] = []
    for index, (row, state) in enumerate(zip(due, states, strict=True), start=1):
        program = programs[row.tenant_id]
        value = sums[index].value(program.ladder.metric)
        new_state, change = review(program, state, value)
        decided.append(new_state)
        if change is not None:
            history.append(history_row(program, row.tenant_id, row.customer_id, change))
            events.append(tier_changed_event(row.tenant_id, row.customer_id, change))
    await connection.execute(
        _WRITE_STATES,
        {
            "tenant_ids": [r.tenant_id for r in due],
            "customer_ids": [r.customer_id for r in due],
            "tier_codes": [s.tier_code for s in decided],
            "tier_sinces": [s.tier_since for s in decided],
            "next_reviews": [s.next_review_at for s in decided],
            "graces": [s.grace_until for s in decided],
        },
    )
    if history:
        await connection.execute(sa.insert(tier_history), history)
        await outbox.append(connection, events)
    return len(due)


async def run_due_reviews(
    database: Database, outbox: Outbox, *, now: datetime, batch_size: int = BATCH_SIZE
) -> int:
    """Decide every review due at ``now`` (one transaction per batch); returns how many were decided.

    A member whose review is decided but still due (a review that is long overdue steps through its
    cycles) is taken again by a later batch, until nothing is due.
    """
    total = 0
    while True:
        async with database.transaction() as connection:
            decided = await review_batch(connection, outbox, now=now, limit=batch_size)
        total += decided
        if decided == 0:
            return total


class SqlTierReviewStore:
    """Implements ``services.loyalty.domain.jobs.TierReviewStore`` on the loyalty database."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    async def run_due_reviews(self, now: datetime) -> int:
        return await run_due_reviews(self._database, self._outbox, now=now)

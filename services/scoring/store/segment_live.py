"""Membership kept live: after each consumer batch, and when due moments come.

``MembershipAfterEvents`` is the consumers' ``after_apply``: in the transaction that applied a batch
of profile's or loyalty's events it re-evaluates every saved segment of the tenant for the customers
the batch touched (the events' customers, the customers a merge folded away, and the survivors of
merged ids), so membership moves with the facts and its events commit with them. The re-scorer's
round (``rescore_marks``) does the same through ``refresh_touched`` for the scores it moves.

``apply_due`` is the due worker's round: it takes the ``segment_due`` rows whose moment has come
(oldest first, at most ``limit``) and re-evaluates just those (segment, customer) pairs, which also
stores each pair's next moment. One replica at a time runs a round (a try-lock); the per-customer
locks of ``segment_membership`` keep it from interleaving with the consumers.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.scoring.domain.segments import reads
from services.scoring.store.segment_membership import refresh_customers
from services.scoring.store.segment_tables import segment_due, segments

DUE_BATCH = 10_000
"""Due rows re-evaluated per transaction: 100 k time exits are ten transactions."""

_UUIDS = pg.ARRAY(pg.UUID(as_uuid=True))
_DUE_WORKER_LOCK = 0x5E6D_0DE0_0000_0001  # one due round at a time across replicas


def _now() -> datetime:
    return datetime.now(UTC)


def facts_changed(event: envelope_pb2.EventEnvelope) -> tuple[str, ...]:
    """The kinds of fact (``domain/segments/reads``) an event of profile or loyalty may change."""
    kind = event.type
    if kind == "event.recorded":  # its scores move later, in the re-scorer's round (rescore_marks)
        return (reads.behaviour(event.event_recorded.event_type),)
    if kind == "order.paid":
        return (reads.ORDERS, reads.SCORES, reads.behaviour("order_paid"))
    if kind == "order.refunded":
        return (reads.ORDERS, reads.REFUNDS, reads.SCORES, reads.behaviour("order_refunded"))
    return _CHANGES.get(kind, (reads.EVERYTHING,))


_CHANGES = {
    "tag.changed": (reads.TAGS,),
    "consent.changed": (reads.CONSENTS,),
    "points.changed": (reads.LOYALTY,),
    "tier.changed": (reads.LOYALTY,),
}


def touched_customers(
    events: Sequence[envelope_pb2.EventEnvelope],
) -> dict[uuid.UUID, dict[str, set[uuid.UUID]]]:
    """Per tenant, per kind of fact, the customers whose facts a batch of events changed (a merge
    changes the merged ids too)."""
    touched: dict[uuid.UUID, dict[str, set[uuid.UUID]]] = defaultdict(lambda: defaultdict(set))
    for event in events:
        if not event.customer_id:
            continue
        kinds = touched[uuid.UUID(event.tenant_id)]
        customers = {uuid.UUID(event.customer_id)}
        if event.type == "customer.merged":
            customers.update(uuid.UUID(merged) for merged in event.customer_merged.merged_ids)
        for kind in facts_changed(event):
            kinds[kind] |= customers
    return touched


Touched = Mapping[uuid.UUID, Mapping[str, set[uuid.UUID]]]
"""Per tenant, per kind of fact (``domain/segments/reads``), the customers whose facts of it changed."""


async def refresh_touched(
    connection: AsyncConnection, outbox: Outbox, touched: Touched, now: datetime
) -> None:
    """Re-evaluate, for the touched customers, the segments of their tenants that read what changed
    (a tenant without saved segments costs one indexed query)."""
    if not touched:
        return
    having = await connection.execute(
        sa.select(segments.c.tenant_id)
        .where(segments.c.tenant_id.in_(list(touched)), segments.c.deleted_at.is_(None))
        .distinct()
    )
    for tenant_id in sorted(having.scalars()):
        changed = touched[tenant_id]
        everyone = set().union(*changed.values())
        await refresh_customers(connection, outbox, tenant_id, everyone, now, "event", changed=changed)


class MembershipAfterEvents:
    """The consumers' ``after_apply``: re-evaluate the touched customers' segments in the batch's
    transaction (a tenant without saved segments costs one indexed query)."""

    def __init__(self, outbox: Outbox, clock: Callable[[], datetime] = _now) -> None:
        self._outbox = outbox
        self._clock = clock

    async def __call__(
        self, connection: AsyncConnection, events: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        await refresh_touched(connection, self._outbox, touched_customers(events), self._clock())


async def apply_due(database: Database, outbox: Outbox, now: datetime, limit: int = DUE_BATCH) -> int:
    """One round of the due worker at ``now``: the number of due rows it re-evaluated (0 when
    nothing was due or another replica holds the round)."""
    async with database.transaction() as connection:
        free = await connection.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _DUE_WORKER_LOCK}
        )
        if not free.scalar_one():
            return 0
        taken = (
            sa.select(segment_due.c.tenant_id, segment_due.c.segment_id, segment_due.c.customer_id)
            .where(segment_due.c.due_at <= now)
            .order_by(segment_due.c.due_at)
            .limit(limit)
            .subquery("taken")
        )
        groups = (
            await connection.execute(
                sa.select(taken.c.tenant_id, taken.c.segment_id, sa.func.array_agg(taken.c.customer_id))
                .group_by(taken.c.tenant_id, taken.c.segment_id)
                .order_by(taken.c.tenant_id, taken.c.segment_id)
            )
        ).all()
        for tenant_id, segment_id, customer_ids in groups:
            await refresh_customers(
                connection, outbox, tenant_id, customer_ids, now, "time", only=[segment_id]
            )
            # Rows that were not rebuilt (a deleted segment, a customer no longer live) go too.
            await connection.execute(
                sa.delete(segment_due).where(
                    segment_due.c.tenant_id == tenant_id,
                    segment_due.c.segment_id == segment_id,
                    segment_due.c.customer_id == sa.any_(sa.literal(list(customer_ids), _UUIDS)),
                    segment_due.c.due_at <= now,
                )
            )
    return sum(len(group[2]) for group in groups)

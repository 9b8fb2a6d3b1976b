"""Behaviour events kept with their exact time and properties, for segment windows shorter than a
day (``PT2H``) and ``where`` filters on properties; and their daily prune.

``fact_projection.FactProjection.events_recorded`` calls ``record_behaviour`` in the consumer's
transaction (the daily activity counts stay as they are). Events older than
``BEHAVIOUR_RETENTION_DAYS`` are neither kept nor left: ``prune_behaviour`` deletes them a batch at a
time, so a prune never holds a long transaction or a large lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.runtime.database import Database
from services.scoring.store.audience_tables import BEHAVIOUR_RETENTION_DAYS

PRUNE_BATCH = 10_000  # rows per prune transaction

# Events older than the retention are not kept (the daily prune would remove them): a replay of
# the stream keeps what the live consumer keeps.
_BEHAVIOUR = sa.text(
    """
    INSERT INTO behaviour_events (tenant_id, event_id, customer_id, event_type, occurred_at, properties)
    SELECT :t, u.event_id, u.customer_id, u.event_type, u.occurred_at,
           CAST(coalesce(nullif(u.properties, ''), '{}') AS jsonb)
    FROM unnest(CAST(:event_ids AS text[]), CAST(:customer_ids AS uuid[]), CAST(:types AS text[]),
                CAST(:ats AS timestamptz[]), CAST(:properties AS text[]))
         AS u(event_id, customer_id, event_type, occurred_at, properties)
    WHERE u.occurred_at > now() - make_interval(days => :retention_days)
    ON CONFLICT (tenant_id, event_id) DO NOTHING
    """
)


_PRUNE = sa.text(
    """
    DELETE FROM behaviour_events WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM behaviour_events WHERE occurred_at <= :cutoff LIMIT :batch))
    """
)


async def record_behaviour(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    kept: Sequence[tuple[envelope_pb2.EventEnvelope, uuid.UUID]],
    ats: Sequence[datetime],
) -> None:
    """Keep each behaviour event with its exact time (``ats``, in the order of ``kept``) and
    properties, for the survivor it counts for (``kept``: event.recorded envelopes with their live
    customer). Repeats of an event id are no-ops."""
    if not kept:
        return
    await connection.execute(
        _BEHAVIOUR,
        {
            "t": tenant_id,
            "event_ids": [e.event_recorded.client_event_id or e.event_id for e, _ in kept],
            "customer_ids": [c for _, c in kept],
            "types": [e.event_recorded.event_type for e, _ in kept],
            "ats": list(ats),
            "properties": [e.event_recorded.properties_json for e, _ in kept],
            "retention_days": BEHAVIOUR_RETENTION_DAYS,
        },
    )


async def prune_behaviour(
    database: Database,
    now: datetime,
    *,
    retention_days: int = BEHAVIOUR_RETENTION_DAYS,
    batch: int = PRUNE_BATCH,
) -> int:
    """Delete every tenant's behaviour events older than the retention, ``batch`` rows per
    transaction; returns how many went. Windows are at most the retention long, so no segment
    could count a pruned event."""
    cutoff = now - timedelta(days=retention_days)
    total = 0
    while True:
        async with database.transaction() as connection:
            deleted = (await connection.execute(_PRUNE, {"cutoff": cutoff, "batch": batch})).rowcount
        total += deleted
        if deleted < batch:
            return total

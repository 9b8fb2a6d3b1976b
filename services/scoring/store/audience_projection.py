"""Handlers that keep the audience tables from profile's tag.changed and consent.changed
(``behaviour_events`` keeps event.recorded).

Each takes a run of events, resolves their customers once (a merged-away customer's event counts for
the survivor, an erased customer's is dropped) and writes the run with one set-based statement per
table, in the consumer's transaction: an event counts exactly once. Within a run the last event of a
(customer, tag) or (customer, channel, purpose) decides, as if applied one at a time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.scoring.store.fact_projection import Envelopes, by_tenant, resolve_live

_TAGS = sa.text(
    """
    WITH u AS (
        SELECT DISTINCT ON (customer_id, tag_id) customer_id, tag_id, applied, expires_at
        FROM unnest(CAST(:customer_ids AS uuid[]), CAST(:tag_ids AS uuid[]), CAST(:applied AS boolean[]),
                    CAST(:expires AS timestamptz[]))
             WITH ORDINALITY AS u(customer_id, tag_id, applied, expires_at, n)
        ORDER BY customer_id, tag_id, n DESC
    ),
    removed AS (
        DELETE FROM audience_tags a USING u
        WHERE a.tenant_id = :t AND a.customer_id = u.customer_id AND a.tag_id = u.tag_id AND NOT u.applied
        RETURNING 1
    )
    INSERT INTO audience_tags AS a (tenant_id, customer_id, tag_id, expires_at)
    SELECT :t, customer_id, tag_id, expires_at FROM u WHERE applied
    ON CONFLICT (tenant_id, customer_id, tag_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
    """
)

_CONSENTS = sa.text(
    """
    INSERT INTO audience_consents AS a (tenant_id, customer_id, channel, purpose, granted, changed_at)
    SELECT DISTINCT ON (customer_id, channel, purpose) :t, customer_id, channel, purpose, granted, changed_at
    FROM unnest(CAST(:customer_ids AS uuid[]), CAST(:channels AS text[]), CAST(:purposes AS text[]),
                CAST(:granted AS boolean[]), CAST(:ats AS timestamptz[]))
         WITH ORDINALITY AS u(customer_id, channel, purpose, granted, changed_at, n)
    ORDER BY customer_id, channel, purpose, n DESC
    ON CONFLICT (tenant_id, customer_id, channel, purpose) DO UPDATE
    SET granted = EXCLUDED.granted, changed_at = EXCLUDED.changed_at
    WHERE a.changed_at <= EXCLUDED.changed_at
    """
)


def _time(envelope: envelope_pb2.EventEnvelope) -> datetime:
    return envelope.occurred_at.ToDatetime(tzinfo=UTC)


async def _live_runs(
    connection: AsyncConnection, envelopes: Envelopes
) -> list[tuple[uuid.UUID, list[tuple[envelope_pb2.EventEnvelope, uuid.UUID]]]]:
    """Per tenant, the run's events with the live customer each counts for (erased ones dropped)."""
    runs = []
    for tenant_id, events in by_tenant(envelopes):
        live = await resolve_live(connection, tenant_id, [e.customer_id for e in events])
        kept = [(e, c) for e in events if (c := live[e.customer_id]) is not None]
        if kept:
            runs.append((tenant_id, kept))
    return runs


class AudienceProjection:
    """The tag.changed and consent.changed handlers."""

    async def tags_changed(self, connection: AsyncConnection, envelopes: Envelopes) -> None:
        """A tag applied (with its expiry, None: never) or removed."""
        for tenant_id, kept in await _live_runs(connection, envelopes):
            await connection.execute(
                _TAGS,
                {
                    "t": tenant_id,
                    "customer_ids": [c for _, c in kept],
                    "tag_ids": [uuid.UUID(e.tag_changed.tag_id) for e, _ in kept],
                    "applied": [e.tag_changed.applied for e, _ in kept],
                    "expires": [
                        e.tag_changed.expires_at.ToDatetime(tzinfo=UTC)
                        if e.tag_changed.HasField("expires_at")
                        else None
                        for e, _ in kept
                    ],
                },
            )

    async def consents_changed(self, connection: AsyncConnection, envelopes: Envelopes) -> None:
        """A consent granted or withdrawn, as of the event's time (a later record wins)."""
        for tenant_id, kept in await _live_runs(connection, envelopes):
            await connection.execute(
                _CONSENTS,
                {
                    "t": tenant_id,
                    "customer_ids": [c for _, c in kept],
                    "channels": [e.consent_changed.channel for e, _ in kept],
                    "purposes": [e.consent_changed.purpose for e, _ in kept],
                    "granted": [e.consent_changed.granted for e, _ in kept],
                    "ats": [_time(e) for e, _ in kept],
                },
            )

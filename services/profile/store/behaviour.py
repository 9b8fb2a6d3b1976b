"""Behaviour-event queries: one set-based insert per batch, its outbox events in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from patron.events.v1 import profile_events_pb2
from services.profile.domain.behaviour import (
    NewBehaviourEvent,
    PageKey,
    StoredBehaviourEvent,
    StoreResult,
)
from services.profile.store import merges, privacy
from services.profile.store.behaviour_tables import behaviour_events
from services.profile.store.merges import resolve_survivor, resolve_survivors
from services.runtime.database import Database
from services.runtime.events.outbox import NewEvent, Outbox

EVENT_RECORDED = "event.recorded"
_UUIDS = pg.ARRAY(pg.UUID(as_uuid=True))

# The whole batch travels as five arrays and lands in one INSERT ... SELECT FROM unnest(...): one
# round trip and one statement for any batch size, so its plan is prepared once and reused.
_incoming = (
    sa.func.unnest(
        sa.cast(sa.bindparam("event_ids"), pg.ARRAY(sa.Text)),
        sa.cast(sa.bindparam("customer_ids"), _UUIDS),
        sa.cast(sa.bindparam("types"), pg.ARRAY(sa.Text)),
        sa.cast(sa.bindparam("occurred_ats"), pg.ARRAY(sa.TIMESTAMP(timezone=True))),
        sa.cast(sa.bindparam("properties"), pg.ARRAY(sa.Text)),
    )
    .table_valued("event_id", "customer_id", "type", "occurred_at", "properties")
    .render_derived(name="incoming")
)
_INSERT = (
    pg.insert(behaviour_events)
    .from_select(
        ["tenant_id", "event_id", "customer_id", "type", "occurred_at", "properties"],
        sa.select(
            sa.cast(sa.bindparam("tenant_id"), pg.UUID(as_uuid=True)),
            _incoming.c.event_id,
            _incoming.c.customer_id,
            _incoming.c.type,
            _incoming.c.occurred_at,
            sa.cast(_incoming.c.properties, pg.JSONB),
        ),
    )
    .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
    .returning(behaviour_events.c.event_id)
)


class SqlBehaviourStore:
    """Implements ``BehaviourStore`` on the profile database."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    async def record(self, tenant_id: uuid.UUID, events: Sequence[NewBehaviourEvent]) -> StoreResult:
        """Insert the events whose customer exists, once per event id; one ``event.recorded`` per new row.

        Rows go in event-id order, so two batches sharing ids wait for each other instead of
        deadlocking; within a batch the first event with an id wins.
        """
        if not events:
            return StoreResult(frozenset(), frozenset())
        async with self._database.transaction() as connection:
            live = await resolve_survivors(
                connection, tenant_id, {e.customer_id for e in events}, lock="key_share"
            )
            first: dict[str, NewBehaviourEvent] = {}
            for event in events:
                if event.customer_id in live:
                    first.setdefault(event.event_id, event)
            rows = [first[event_id] for event_id in sorted(first)]
            inserted: frozenset[str] = frozenset()
            if rows:
                result = await connection.execute(
                    _INSERT,
                    {
                        "tenant_id": tenant_id,
                        "event_ids": [e.event_id for e in rows],
                        "customer_ids": [live[e.customer_id] for e in rows],
                        "types": [e.type for e in rows],
                        "occurred_ats": [e.occurred_at for e in rows],
                        "properties": [e.properties_json for e in rows],
                    },
                )
                inserted = frozenset(result.scalars())
                await self._outbox.append(
                    connection,
                    [
                        NewEvent(
                            tenant_id,
                            EVENT_RECORDED,
                            live[e.customer_id],
                            profile_events_pb2.EventRecorded(
                                client_event_id=e.event_id,
                                event_type=e.type,
                                properties_json=e.properties_json,
                            ),
                            occurred_at=e.occurred_at,
                        )
                        for e in rows
                        if e.event_id in inserted
                    ],
                )
        missing = frozenset(e.customer_id for e in events if e.customer_id not in live)
        return StoreResult(inserted, missing)

    async def list_for_customer(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        event_type: str | None,
        limit: int,
        after: PageKey | None,
    ) -> tuple[uuid.UUID, list[StoredBehaviourEvent]] | None:
        """Up to ``limit`` of the live customer's events after ``after``, newest first; None if unknown."""
        async with self._database.read() as connection:
            live = await resolve_survivor(connection, tenant_id, customer_id)
            if live is None:
                return None
            table = behaviour_events.c
            query = (
                sa.select(
                    table.event_id,
                    table.type,
                    table.occurred_at,
                    table.received_at,
                    sa.cast(table.properties, sa.Text).label("properties_json"),
                )
                .where(table.tenant_id == tenant_id, table.customer_id == live)
                .order_by(table.occurred_at.desc(), table.event_id.desc())
                .limit(limit)
            )
            if event_type is not None:
                query = query.where(table.type == event_type)
            if after is not None:
                query = query.where(
                    sa.tuple_(table.occurred_at, table.event_id)
                    < sa.tuple_(after.occurred_at, after.event_id)
                )
            rows = (await connection.execute(query)).all()
        return live, [
            StoredBehaviourEvent(
                event_id=row.event_id,
                type=row.type,
                occurred_at=row.occurred_at,
                received_at=row.received_at,
                customer_id=live,
                properties_json=row.properties_json,
            )
            for row in rows
        ]


# ---- merge, erasure, export (run by services.profile.store.merges / .privacy) ----------------------

# A merged customer's events become the survivor's; no event is emitted (consumers fold the
# customer.merged event into their view of the survivor).
merges.REPOINT_STATEMENTS.append(
    sa.text(
        "UPDATE behaviour_events SET customer_id = CAST(:survivor AS uuid) "
        "WHERE tenant_id = :tenant AND customer_id = ANY(:merged)"
    )
)
# Erasure removes the person's behaviour whole: properties are the merchant's free-form data.
privacy.ERASE_STATEMENTS.append(
    sa.text("DELETE FROM behaviour_events WHERE tenant_id = :tenant AND customer_id = ANY(:customers)")
)
privacy.EXPORT_QUERIES["behaviour_events"] = sa.text(
    "SELECT event_id, type, occurred_at, received_at, properties FROM behaviour_events "
    "WHERE tenant_id = :tenant AND customer_id = ANY(:customers) ORDER BY occurred_at, event_id"
)

"""Handlers that keep scoring's customer projection from profile's customer.* events.

Each runs inside the consumer's transaction, which also moves the stream position, so every event
counts exactly once (``events_applied`` makes that visible). The segment attributes are set from the
values the events carry (``audience_attributes``). A merge moves the merged customers' facts and
audience rows (``audience_moves``) to the survivor and re-scores it; an erasure deletes every fact,
audience row, attribute and score of the customer, and the parked events of the customer, and
records scoring's erasure done (``runtime.events.erasure``).
``consumers.profile_events`` wires them (and those of ``fact_projection``) to profile's stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.runtime.events.erasure import ErasureTraces
from services.runtime.events.outbox import Outbox
from services.runtime.proto_convert import from_timestamp, optional_text
from services.scoring.store import audience_moves, kpi_moves
from services.scoring.store.audience_attributes import attribute_values, blank_attributes
from services.scoring.store.feature_tables import outbox
from services.scoring.store.rescoring import forget_customers, rescore
from services.scoring.store.tables import consumer_parked, customer_erasures, customers

# Scoring's events carry no free text: its erasure prunes its parked events and records itself done.
_TRACES = ErasureTraces("scoring", outbox, consumer_parked, customer_erasures)

_MOVE_ACTIVITY = sa.text(
    """
    WITH moved AS (
        DELETE FROM activity_daily WHERE tenant_id = :t AND customer_id = ANY(CAST(:ids AS uuid[]))
        RETURNING event_type, day, events, last_at
    )
    INSERT INTO activity_daily AS a (tenant_id, customer_id, event_type, day, events, last_at)
    SELECT :t, :survivor, event_type, day, sum(events), max(last_at) FROM moved GROUP BY event_type, day
    ON CONFLICT (tenant_id, customer_id, event_type, day) DO UPDATE
    SET events = a.events + EXCLUDED.events, last_at = greatest(a.last_at, EXCLUDED.last_at)
    """
)

_MOVE_HOURS = sa.text(
    """
    WITH moved AS (
        DELETE FROM activity_hours WHERE tenant_id = :t AND customer_id = ANY(CAST(:ids AS uuid[]))
        RETURNING hour, events
    )
    INSERT INTO activity_hours AS h (tenant_id, customer_id, hour, events)
    SELECT :t, :survivor, hour, sum(events) FROM moved GROUP BY hour
    ON CONFLICT (tenant_id, customer_id, hour) DO UPDATE SET events = h.events + EXCLUDED.events
    """
)

_ERASE_FACTS = [
    sa.text(
        f"DELETE FROM {table} x USING orders o WHERE o.tenant_id = :t AND o.customer_id = :c "  # noqa: S608
        "AND x.tenant_id = o.tenant_id AND x.order_id = o.order_id"
    )
    for table in ("order_items", "order_extras", "order_refunds")
] + [
    sa.text(f"DELETE FROM {table} WHERE tenant_id = :t AND customer_id = :c")  # noqa: S608
    for table in ("orders", "activity_daily", "activity_hours")
]


def _key(envelope: envelope_pb2.EventEnvelope) -> dict[str, uuid.UUID]:
    return {"tenant_id": uuid.UUID(envelope.tenant_id), "customer_id": uuid.UUID(envelope.customer_id)}


def _created_row(envelope: envelope_pb2.EventEnvelope, attributes: dict[str, Any]) -> dict[str, Any]:
    """The projection row a customer.created event inserts."""
    created_at = from_timestamp(envelope.customer_created.created_at)
    return {**_key(envelope), "created_at": created_at, **attributes}


def _created_attributes(payload: Any) -> dict[str, Any]:
    """The segment attributes a customer.created event sets: all of them when it carries them, else
    (an event from before they travelled, or from a batch before batches carried them) the
    registration channel and device."""
    if payload.HasField("attributes"):
        return attribute_values(payload.attributes)
    return {
        "registration_channel": optional_text(payload, "registration_channel"),
        "device": optional_text(payload, "device"),
    }


def _column_type(name: str) -> str:
    """The SQL type of a ``customers`` column, as the table declares it (an array of it is cast)."""
    return str(customers.c[name].type.compile(dialect=pg.dialect()))  # type: ignore[no-untyped-call]


@lru_cache(maxsize=8)
def _upsert_created(attribute_names: tuple[str, ...]) -> sa.TextClause:
    """Insert the rows; on a row that exists, set its creation time and the attributes, and count
    the event.

    The rows travel as one array per column (``unnest``), so the statement's text depends only on
    which attributes the events carry (two kinds, see :func:`_created_attributes`) and is built and
    prepared once. A multi-row ``VALUES`` is a new statement for every number of rows: compiling it
    took over half of scoring's CPU under the identify benchmark."""
    for name in attribute_names:
        if name not in customers.c:  # the names come from attribute_values; never from input
            raise ValueError(f"not a customer column: {name!r}")
    arrays = ", ".join(f"CAST(:{name} AS {_column_type(name)}[])" for name in attribute_names)
    names = ", ".join(attribute_names)
    # A merge announced on the survivor's partition may have arrived first: keep merged_into, and no
    # attributes on a merged-away row (they live on in the survivor).
    updates = "".join(
        f"{name} = CASE WHEN c.merged_into IS NULL THEN EXCLUDED.{name} END, " for name in attribute_names
    )
    return sa.text(
        f"""
        INSERT INTO customers AS c (tenant_id, customer_id, created_at, {names}, events_applied)
        SELECT u.tenant_id, u.customer_id, u.created_at, {names}, 1
        FROM unnest(CAST(:tenant_ids AS uuid[]), CAST(:customer_ids AS uuid[]),
                    CAST(:created_ats AS timestamptz[]), {arrays})
             AS u(tenant_id, customer_id, created_at, {names})
        ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
            created_at = EXCLUDED.created_at, {updates}
            updated_at = now(), events_applied = c.events_applied + 1
        """  # noqa: S608 (column names of the customers table, checked above)
    )


def _created_arrays(rows: list[dict[str, Any]], attribute_names: tuple[str, ...]) -> dict[str, list[Any]]:
    """The parameters of :func:`_upsert_created`: one list per column, in the rows' order."""
    return {
        "tenant_ids": [row["tenant_id"] for row in rows],
        "customer_ids": [row["customer_id"] for row in rows],
        "created_ats": [row["created_at"] for row in rows],
        **{name: [row[name] for row in rows] for name in attribute_names},
    }


class CustomerProjection:
    """The customer.* handlers; ``outbox`` announces the stage changes their re-scoring finds."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def created(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        """Record the customer with its segment attributes (it enters the acquisition stage)."""
        await self.created_many(connection, [envelope])

    async def created_many(
        self, connection: AsyncConnection, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        """A run of customer.created as one upsert per kind of event and one re-scoring per tenant.

        A burst of sign-ups cost one re-scoring statement per event before (most of scoring's CPU
        under the identify benchmark), and so did events without attributes (from before they
        travelled, or from event and order batches before those carried them): 10,000 of them kept
        scoring busy for minutes. Events that carry the attributes set them all, the others only the
        registration channel and device, so the two kinds are upserted apart. A run that names a
        customer twice goes event by event (one upsert cannot touch a row twice)."""
        keys = [(e.tenant_id, e.customer_id) for e in envelopes]
        if len(set(keys)) < len(keys):
            for envelope in envelopes:
                await self.created_many(connection, [envelope])
            return
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for envelope in envelopes:
            attributes = _created_attributes(envelope.customer_created)
            by_columns.setdefault(tuple(attributes), []).append(_created_row(envelope, attributes))
        by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
        for columns, rows in by_columns.items():
            await connection.execute(_upsert_created(columns), _created_arrays(rows, columns))
            for row in rows:
                by_tenant.setdefault(row["tenant_id"], []).append(row["customer_id"])
        for tenant_id, customer_ids in by_tenant.items():
            await rescore(connection, self.outbox, tenant_id, customer_ids)

    async def updated(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        """Set the segment attributes to the values the event carries (all of them: an unset one
        was cleared). A merged-away or erased customer keeps none: the update predates the merge,
        whose survivor attributes already include it."""
        key = _key(envelope)
        payload = envelope.customer_updated
        attributes = attribute_values(payload.attributes) if payload.HasField("attributes") else {}
        live = sa.and_(customers.c.merged_into.is_(None), customers.c.erased_at.is_(None))
        await connection.execute(
            sa.update(customers)
            .where(customers.c.tenant_id == key["tenant_id"], customers.c.customer_id == key["customer_id"])
            .values(
                **{
                    name: sa.case((live, value), else_=customers.c[name])
                    for name, value in attributes.items()
                },
                updated_at=sa.func.now(),
                events_applied=customers.c.events_applied + 1,
            )
        )

    async def merged(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        """Point the merged customers (and whoever was merged into them) at the live survivor, move
        their facts to it and re-score it. Their own events travel on their own partitions and may
        arrive later: a merged customer not seen yet gets its row now (created_at provisional), and
        its late facts follow merged_into."""
        tenant_id = uuid.UUID(envelope.tenant_id)
        named = uuid.UUID(envelope.customer_merged.survivor_id)
        # The survivor may itself have been merged since (that merge can arrive first).
        survivor = (
            await connection.execute(
                sa.select(sa.func.coalesce(customers.c.merged_into, customers.c.customer_id)).where(
                    customers.c.tenant_id == tenant_id, customers.c.customer_id == named
                )
            )
        ).scalar_one_or_none() or named
        merged_ids = [uuid.UUID(m) for m in envelope.customer_merged.merged_ids if uuid.UUID(m) != survivor]
        if not merged_ids:
            return
        occurred_at = from_timestamp(envelope.occurred_at)
        rows = [
            {
                "tenant_id": tenant_id,
                "customer_id": merged,
                "created_at": occurred_at,
                "merged_into": survivor,
                "events_applied": 1,
                **blank_attributes(),
            }
            for merged in merged_ids
        ]
        statement = pg.insert(customers)
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=[customers.c.tenant_id, customers.c.customer_id],
                set_={
                    "merged_into": statement.excluded.merged_into,
                    **blank_attributes(),
                    "updated_at": sa.func.now(),
                    "events_applied": customers.c.events_applied + 1,
                },
            ),
            rows,
        )
        # Path compression: one hop from any merged-away id reaches the live customer.
        await connection.execute(
            sa.update(customers)
            .where(customers.c.tenant_id == tenant_id, customers.c.merged_into.in_(merged_ids))
            .values(merged_into=survivor, updated_at=sa.func.now())
        )
        moved = {"t": tenant_id, "ids": merged_ids, "survivor": survivor}
        await connection.execute(
            sa.text(
                "UPDATE orders SET customer_id = :survivor "
                "WHERE tenant_id = :t AND customer_id = ANY(CAST(:ids AS uuid[]))"
            ),
            moved,
        )
        await connection.execute(_MOVE_ACTIVITY, moved)
        await connection.execute(_MOVE_HOURS, moved)
        await kpi_moves.merge_customers(connection, tenant_id, survivor, merged_ids, envelope.partition)
        for move in audience_moves.MOVE_STATEMENTS:
            await connection.execute(move, moved)
        if survivor == named and envelope.customer_merged.HasField("survivor_attributes"):
            await connection.execute(
                sa.update(customers)
                .where(customers.c.tenant_id == tenant_id, customers.c.customer_id == survivor)
                .values(**attribute_values(envelope.customer_merged.survivor_attributes))
            )
        await forget_customers(connection, tenant_id, merged_ids)
        await rescore(connection, self.outbox, tenant_id, [survivor])

    async def erased(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        """Erase everything scoring holds about the customer; only the bare id stays, marked erased."""
        key = _key(envelope)
        await connection.execute(
            sa.update(customers)
            .where(customers.c.tenant_id == key["tenant_id"], customers.c.customer_id == key["customer_id"])
            .values(
                erased_at=from_timestamp(envelope.customer_erased.erased_at),
                **blank_attributes(),
                updated_at=sa.func.now(),
                events_applied=customers.c.events_applied + 1,
            )
        )
        await kpi_moves.erase_customer(connection, key["tenant_id"], key["customer_id"], envelope.partition)
        for statement in [*_ERASE_FACTS, *audience_moves.ERASE_STATEMENTS]:
            await connection.execute(statement, {"t": key["tenant_id"], "c": key["customer_id"]})
        await forget_customers(connection, key["tenant_id"], [key["customer_id"]])
        merged = [uuid.UUID(m) for m in envelope.customer_erased.merged_ids]
        await _TRACES.erase(connection, key["tenant_id"], key["customer_id"], merged)

"""Appending domain events to the outbox, inside the producer's own transaction.

A rolled-back transaction therefore never emits: its outbox rows vanish with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.runtime.database import after_commit
from services.runtime.events.signals import OUTBOX_CHANNEL
from services.runtime.proto_convert import to_timestamp

_APPEND_SQL = """
    WITH appended AS (
        INSERT INTO {table} (event_id, tenant_id, customer_id, type, partition, occurred_at, envelope)
        SELECT * FROM unnest(
            CAST(:event_ids AS uuid[]), CAST(:tenant_ids AS uuid[]), CAST(:customer_ids AS uuid[]),
            CAST(:types AS text[]), CAST(:partitions AS smallint[]), CAST(:occurred AS timestamptz[]),
            CAST(:envelopes AS bytea[])
        )
        RETURNING 1
    )
    SELECT pg_notify(:channel, '') FROM (SELECT count(*) FROM appended) AS done WHERE :channel <> ''

"""

_PAYLOAD_FIELDS = {f.name for f in envelope_pb2.EventEnvelope.DESCRIPTOR.oneofs_by_name["payload"].fields}


def payload_field(event_type: str) -> str:
    """The envelope's oneof field for an event type: ``customer.created`` → ``customer_created``."""
    name = event_type.replace(".", "_")
    if name not in _PAYLOAD_FIELDS:
        raise ValueError(f"no payload message for event type {event_type!r}")
    return name


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended; the outbox gives it an id, partition and (later) position."""

    tenant_id: uuid.UUID
    type: str
    customer_id: uuid.UUID | None
    payload: Message
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


def partition_of(customer_id: uuid.UUID | None, partitions: int) -> int:
    """A customer's partition: stable, uniform over random UUIDs; tenant-wide events use 0."""
    if customer_id is None:
        return 0
    return int.from_bytes(customer_id.bytes[:4], "big") % partitions


class Outbox:
    """A producer's outbox: ``append`` within the transaction that causes the events."""

    def __init__(
        self, producer: str, table: sa.Table, partitions: int, wake: Callable[[], None] | None = None
    ) -> None:
        """``wake`` tells this process's sequencer that rows were committed. Without it the append
        NOTIFYs instead — which works across processes but makes PostgreSQL serialise the commits of
        every notifying transaction, so producing services pass their sequencer's wake-up."""
        self.producer = producer
        self.table = table
        self._append = sa.text(_APPEND_SQL.format(table=table.name))
        self._wake = wake
        self.partitions = partitions

    def statement_channel(self) -> str:
        """For outbox rows a producer inserts with a statement of its own (a stored function): the
        channel that statement must ``pg_notify``, or '' when :meth:`wake_after` wakes instead."""
        return OUTBOX_CHANNEL if self._wake is None else ""

    def wake_after(self, connection: AsyncConnection | None) -> None:
        """Wake the sequencer for rows inserted outside :meth:`append`: when the transaction of
        ``connection`` commits, or at once when None (the statement committed on its own)."""
        if self._wake is None:
            return
        if connection is None:
            self._wake()
        else:
            after_commit(connection, "outbox", self._wake)

    def envelope(self, event: NewEvent) -> envelope_pb2.EventEnvelope:
        # One constructor call (payload and timestamp as arguments) instead of setting fields one by
        # one: built once per event of every batch, it is on ingest's hot path.
        payload: dict[str, Any] = {payload_field(event.type): event.payload}
        return envelope_pb2.EventEnvelope(
            event_id=str(event.event_id),
            tenant_id=str(event.tenant_id),
            type=event.type,
            customer_id=str(event.customer_id) if event.customer_id else "",
            producer=self.producer,
            occurred_at=to_timestamp(event.occurred_at),
            **payload,
        )

    async def append(self, connection: AsyncConnection, events: Sequence[NewEvent]) -> None:
        """Insert the events and wake the sequencer when (and only if) the transaction commits."""
        if not events:
            return
        # One statement over arrays, whatever the batch size (executemany costs twice the CPU).
        await connection.execute(
            self._append,
            {
                "event_ids": [e.event_id for e in events],
                "tenant_ids": [e.tenant_id for e in events],
                "customer_ids": [e.customer_id for e in events],
                "types": [e.type for e in events],
                "partitions": [partition_of(e.customer_id, self.partitions) for e in events],
                "occurred": [e.occurred_at for e in events],
                "envelopes": [self.envelope(e).SerializeToString() for e in events],
                "channel": OUTBOX_CHANNEL if self._wake is None else "",
            },
        )
        if self._wake is not None:
            after_commit(connection, "outbox", self._wake)

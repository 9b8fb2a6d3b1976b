"""``patron.events.v1.ConsumerStatus``: every consumer's position, lag, owner and parked events, and
the operator's actions on parked events (list, retry, discard; ``parked.ParkedEvents``)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from grpc import aio

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from services.runtime.database import Database
from services.runtime.events.consumer import ConsumerSpec
from services.runtime.events.consumer_store import consumer_status_rows
from services.runtime.events.parked import ParkedEvents
from services.runtime.server import Registration


class ConsumerStatusServicer(envelope_pb2_grpc.ConsumerStatusServicer):
    def __init__(
        self,
        database: Database,
        positions: sa.Table,
        parked: sa.Table,
        events: ParkedEvents,
        specs: Sequence[ConsumerSpec] = (),
    ) -> None:
        self._database = database
        self._positions = positions
        self._parked = parked
        self._events = events
        self._deferred = [(spec.name, spec.deferred) for spec in specs if spec.deferred is not None]

    async def GetConsumerStatus(
        self, request: envelope_pb2.GetConsumerStatusRequest, context: aio.ServicerContext
    ) -> envelope_pb2.GetConsumerStatusResponse:
        rows = await consumer_status_rows(self._database, self._positions, self._parked)
        response = envelope_pb2.GetConsumerStatusResponse()
        for row in rows:
            response.partitions.add(
                consumer=row.consumer,
                producer=row.producer,
                partition=row.partition,
                position=row.position,
                head=row.head,
                lag_events=max(row.head - row.position, 0),
                lag_seconds=row.lag_seconds if row.head > row.position else 0.0,
                owner=row.owner or "",
                parked=row.parked,
                behind_retention=row.behind_retention,
                last_error=row.last_error or "",
            )
        for consumer, (work, backlog) in self._deferred:
            pending, oldest_seconds = await backlog(self._database)
            response.deferred.add(
                consumer=consumer, work=work, pending=pending, oldest_seconds=oldest_seconds
            )
        return response

    async def ListParked(
        self, request: envelope_pb2.ListParkedRequest, context: aio.ServicerContext
    ) -> envelope_pb2.ListParkedResponse:
        rows, total = await self._events.list(request.consumer, request.limit)
        response = envelope_pb2.ListParkedResponse(total=total)
        for row in rows:
            event = response.events.add(
                id=row.id,
                consumer=row.consumer,
                producer=row.producer,
                partition=row.partition,
                position=row.position,
                event_id=str(row.event_id),
                type=row.type,
                tenant_id=envelope_pb2.EventEnvelope.FromString(row.envelope).tenant_id,
                error=row.error,
                attempts=row.attempts,
            )
            event.parked_at.FromDatetime(row.parked_at)
        return response

    async def RetryParked(
        self, request: envelope_pb2.RetryParkedRequest, context: aio.ServicerContext
    ) -> envelope_pb2.RetryParkedResponse:
        error = await self._events.retry(request.id)
        return envelope_pb2.RetryParkedResponse(applied=error is None, error=error or "")

    async def DiscardParked(
        self, request: envelope_pb2.DiscardParkedRequest, context: aio.ServicerContext
    ) -> envelope_pb2.DiscardParkedResponse:
        await self._events.discard(request.id, request.by, request.reason)
        return envelope_pb2.DiscardParkedResponse()


STATUS_METHODS = frozenset(
    f"/patron.events.v1.ConsumerStatus/{method}"
    for method in ("GetConsumerStatus", "ListParked", "RetryParked", "DiscardParked")
)


def status_registration(servicer: ConsumerStatusServicer) -> Registration:
    return Registration(
        envelope_pb2_grpc.add_ConsumerStatusServicer_to_server, servicer, "patron.events.v1.ConsumerStatus"
    )

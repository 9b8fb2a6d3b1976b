"""``patron.events.v1.ConsumerStatus``: every consumer's position, lag, owner and parked events."""

from __future__ import annotations

import sqlalchemy as sa
from grpc import aio

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from services.runtime.database import Database
from services.runtime.events.consumer_store import consumer_status_rows
from services.runtime.server import Registration


class ConsumerStatusServicer(envelope_pb2_grpc.ConsumerStatusServicer):
    def __init__(self, database: Database, positions: sa.Table, parked: sa.Table) -> None:
        self._database = database
        self._positions = positions
        self._parked = parked

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
        return response


def status_registration(servicer: ConsumerStatusServicer) -> Registration:
    return Registration(
        envelope_pb2_grpc.add_ConsumerStatusServicer_to_server, servicer, "patron.events.v1.ConsumerStatus"
    )

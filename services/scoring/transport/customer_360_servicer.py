"""Scoring's part of the customer 360: the scores and the live segments in one call."""

from __future__ import annotations

from typing import Any

from grpc import aio

from patron.scoring.v1 import customer_360_pb2, customer_360_pb2_grpc
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant
from services.scoring.domain.customer_360 import Customer360Queries
from services.scoring.transport import convert
from services.scoring.transport.segments_servicer import customer_segments_to_proto

CUSTOMER_360_SERVICE = "patron.scoring.v1.Customer360Service"


class Customer360Servicer(customer_360_pb2_grpc.Customer360ServiceServicer):
    def __init__(self, queries: Customer360Queries) -> None:
        self._queries = queries

    async def GetCustomer360(
        self, request: customer_360_pb2.GetCustomer360Request, context: aio.ServicerContext[Any, Any]
    ) -> customer_360_pb2.Customer360Part:
        part = await self._queries.part(current_tenant(), request.customer_id)
        answer = customer_360_pb2.Customer360Part(segments=customer_segments_to_proto(part.segments))
        if part.scores is not None:
            answer.scored = True
            answer.scores.CopyFrom(convert.scores_to_proto(*part.scores))
        return answer


def customer_360_registration(queries: Customer360Queries) -> Registration:
    return Registration(
        customer_360_pb2_grpc.add_Customer360ServiceServicer_to_server,
        Customer360Servicer(queries),
        CUSTOMER_360_SERVICE,
    )

"""Profile's part of the customer 360: the customer and the timeline's head in one call."""

from __future__ import annotations

from grpc import aio

from patron.profile.v1 import customer_360_pb2, customer_360_pb2_grpc
from services.profile.domain.customer_360 import Customer360Reads
from services.profile.transport import convert
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

CUSTOMER_360_SERVICE = "patron.profile.v1.Customer360Service"


class Customer360Servicer(customer_360_pb2_grpc.Customer360ServiceServicer):
    def __init__(self, reads: Customer360Reads) -> None:
        self._reads = reads

    async def GetCustomer360(
        self, request: customer_360_pb2.GetCustomer360Request, context: aio.ServicerContext
    ) -> customer_360_pb2.Customer360Part:
        part = await self._reads.part(current_tenant(), request.customer_id, request.timeline_limit)
        return customer_360_pb2.Customer360Part(
            customer=convert.customer_to_proto(part.customer),
            timeline=convert.timeline_to_proto(part.timeline),
        )


def customer_360_registration(reads: Customer360Reads) -> Registration:
    return Registration(
        customer_360_pb2_grpc.add_Customer360ServiceServicer_to_server,
        Customer360Servicer(reads),
        CUSTOMER_360_SERVICE,
    )

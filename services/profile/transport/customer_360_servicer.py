"""Profile's part of the customer 360: the customer and the timeline's head in one call."""

from __future__ import annotations

import asyncio

from grpc import aio

from patron.profile.v1 import customer_360_pb2, customer_360_pb2_grpc
from services.profile.domain.directory import CustomerDirectory
from services.profile.domain.timeline import Timeline
from services.profile.transport import convert
from services.runtime.concurrency import first_failure_raised
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

CUSTOMER_360_SERVICE = "patron.profile.v1.Customer360Service"


class Customer360Servicer(customer_360_pb2_grpc.Customer360ServiceServicer):
    def __init__(self, directory: CustomerDirectory, timeline: Timeline) -> None:
        self._directory = directory
        self._timeline = timeline

    async def GetCustomer360(
        self, request: customer_360_pb2.GetCustomer360Request, context: aio.ServicerContext
    ) -> customer_360_pb2.Customer360Part:
        """Both reads at once: each resolves a merged-away id to its survivor on its own, so the
        timeline need not wait for the customer."""
        tenant = current_tenant()
        customer, page = first_failure_raised(
            await asyncio.gather(
                self._directory.get(tenant, request.customer_id),
                self._timeline.page(tenant, request.customer_id, request.timeline_limit, ""),
                return_exceptions=True,
            )
        )
        return customer_360_pb2.Customer360Part(
            customer=convert.customer_to_proto(customer), timeline=convert.timeline_to_proto(page.items)
        )


def customer_360_registration(directory: CustomerDirectory, timeline: Timeline) -> Registration:
    return Registration(
        customer_360_pb2_grpc.add_Customer360ServiceServicer_to_server,
        Customer360Servicer(directory, timeline),
        CUSTOMER_360_SERVICE,
    )

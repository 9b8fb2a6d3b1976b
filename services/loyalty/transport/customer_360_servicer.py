"""Loyalty's part of the customer 360: points, membership and the newest available coupons in one
call (each read resolves a merged-away id to its survivor)."""

from __future__ import annotations

from grpc import aio

from patron.loyalty.v1 import customer_360_pb2, customer_360_pb2_grpc, loyalty_pb2
from services.loyalty.domain.customer_360 import Customer360Desk
from services.loyalty.transport.coupons_servicer import coupon_to_proto
from services.loyalty.transport.membership_servicer import membership_to_proto
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

CUSTOMER_360_SERVICE = "patron.loyalty.v1.Customer360Service"


class Customer360Servicer(customer_360_pb2_grpc.Customer360ServiceServicer):
    def __init__(self, desk: Customer360Desk) -> None:
        self._desk = desk

    async def GetCustomer360(
        self, request: customer_360_pb2.GetCustomer360Request, context: aio.ServicerContext
    ) -> customer_360_pb2.Customer360Part:
        part = await self._desk.part(
            current_tenant(), request.customer_id, request.expiring_days, request.coupon_limit
        )
        balance = part.balance
        return customer_360_pb2.Customer360Part(
            balance=loyalty_pb2.Balance(
                customer_id=str(part.balance_customer),
                balance=balance.balance,
                expiring=balance.expiring,
                debt=balance.debt,
            ),
            membership=membership_to_proto(str(part.member), part.membership),
            coupons=[coupon_to_proto(c, part.now) for c in part.coupons.items],
        )


def customer_360_registration(desk: Customer360Desk) -> Registration:
    return Registration(
        customer_360_pb2_grpc.add_Customer360ServiceServicer_to_server,
        Customer360Servicer(desk),
        CUSTOMER_360_SERVICE,
    )

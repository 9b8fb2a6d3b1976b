"""Loyalty's part of the customer 360: points, membership and the newest available coupons in one
call (each read resolves a merged-away id to its survivor)."""

from __future__ import annotations

import asyncio

from grpc import aio

from patron.loyalty.v1 import customer_360_pb2, customer_360_pb2_grpc, loyalty_pb2
from services.loyalty.domain.coupon_desk import CouponDesk
from services.loyalty.domain.membership_desk import MembershipDesk
from services.loyalty.domain.points_desk import PointsDesk
from services.loyalty.transport.coupons_servicer import coupon_to_proto
from services.loyalty.transport.membership_servicer import membership_to_proto
from services.runtime.concurrency import first_failure_raised
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

CUSTOMER_360_SERVICE = "patron.loyalty.v1.Customer360Service"


class Customer360Servicer(customer_360_pb2_grpc.Customer360ServiceServicer):
    def __init__(self, points: PointsDesk, membership: MembershipDesk, coupons: CouponDesk) -> None:
        self._points = points
        self._membership = membership
        self._coupons = coupons

    async def GetCustomer360(
        self, request: customer_360_pb2.GetCustomer360Request, context: aio.ServicerContext
    ) -> customer_360_pb2.Customer360Part:
        """The three reads at once; any failure fails the part (the gateway marks it degraded)."""
        tenant, customer_id = current_tenant(), request.customer_id
        (customer, balance), (member, view), listed = first_failure_raised(
            await asyncio.gather(
                self._points.balance(tenant, customer_id, request.expiring_days),
                self._membership.membership(tenant, customer_id),
                self._coupons.customer_coupons(tenant, customer_id, "available", request.coupon_limit, ""),
                return_exceptions=True,
            )
        )
        return customer_360_pb2.Customer360Part(
            balance=loyalty_pb2.Balance(
                customer_id=str(customer),
                balance=balance.balance,
                expiring=balance.expiring,
                debt=balance.debt,
            ),
            membership=membership_to_proto(str(member), view),
            coupons=[coupon_to_proto(c, listed.now) for c in listed.result.items],
        )


def customer_360_registration(
    points: PointsDesk, membership: MembershipDesk, coupons: CouponDesk
) -> Registration:
    return Registration(
        customer_360_pb2_grpc.add_Customer360ServiceServicer_to_server,
        Customer360Servicer(points, membership, coupons),
        CUSTOMER_360_SERVICE,
    )

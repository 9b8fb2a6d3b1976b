"""KpiService: a period's coupon and points KPIs. Converts and delegates to
``services.loyalty.domain.kpis``."""

from __future__ import annotations

from typing import Any

from grpc import aio

from patron.loyalty.v1 import kpis_pb2, kpis_pb2_grpc
from services.loyalty.domain.kpis import LoyaltyKpis
from services.runtime.proto_convert import to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

KPI_SERVICE = "patron.loyalty.v1.KpiService"


class KpiServicer(kpis_pb2_grpc.KpiServiceServicer):
    """Every call acts for the tenant of its metadata."""

    def __init__(self, kpis: LoyaltyKpis) -> None:
        self._kpis = kpis

    async def GetKpis(
        self, request: kpis_pb2.KpiRequest, context: aio.ServicerContext[Any, Any]
    ) -> kpis_pb2.LoyaltyKpis:
        figures = await self._kpis.figures(current_tenant(), request.from_date, request.to_date)
        message = kpis_pb2.LoyaltyKpis(
            from_date=figures.period.first.isoformat(),
            to_date=figures.period.last.isoformat(),
            coupons_issued=figures.coupons_issued,
            coupons_redeemed=figures.coupons_redeemed,
            coupon_redemptions=figures.coupon_redemptions,
            coupon_discount_minor=figures.coupon_discount_minor,
            points_liability=figures.points_liability,
            points_liability_value_minor=figures.points_liability_value_minor,
            point_value_minor=figures.point_value_minor,
            currency=figures.currency,
            liability_as_of=to_timestamp(figures.liability_as_of),
        )
        if figures.coupon_redemption_rate is not None:
            message.coupon_redemption_rate = figures.coupon_redemption_rate
        return message


def kpis_registration(kpis: LoyaltyKpis) -> Registration:
    """The registration the loyalty service adds to serve KpiService."""
    return Registration(kpis_pb2_grpc.add_KpiServiceServicer_to_server, KpiServicer(kpis), KPI_SERVICE)

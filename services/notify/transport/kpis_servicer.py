"""KpiService: a period's campaign KPIs. Converts and delegates to ``services.notify.domain.kpis``."""

from __future__ import annotations

from typing import Any

from grpc import aio

from patron.notify.v1 import kpis_pb2, kpis_pb2_grpc
from services.notify.domain.kpis import CampaignKpis
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

KPI_SERVICE = "patron.notify.v1.KpiService"


class KpiServicer(kpis_pb2_grpc.KpiServiceServicer):
    """Every call acts for the tenant of its metadata."""

    def __init__(self, kpis: CampaignKpis) -> None:
        self._kpis = kpis

    async def GetKpis(
        self, request: kpis_pb2.KpiRequest, context: aio.ServicerContext[Any, Any]
    ) -> kpis_pb2.CampaignKpis:
        figures = await self._kpis.figures(current_tenant(), request.from_date, request.to_date)
        message = kpis_pb2.CampaignKpis(
            from_date=figures.period.first.isoformat(),
            to_date=figures.period.last.isoformat(),
            campaigns=figures.campaigns,
            recipients=figures.recipients,
            sent=figures.sent,
            conversions=figures.conversions,
            orders=figures.orders,
            revenue_minor=figures.revenue_minor,
            coupon_cost_minor=figures.coupon_cost_minor,
        )
        if figures.conversion_rate is not None:
            message.conversion_rate = figures.conversion_rate
        if figures.incremental_revenue_minor is not None:
            message.incremental_revenue_minor = figures.incremental_revenue_minor
        if figures.roi is not None:
            message.roi = figures.roi
        return message


def kpis_registration(kpis: CampaignKpis) -> Registration:
    """The registration the notify service adds to serve KpiService."""
    return Registration(kpis_pb2_grpc.add_KpiServiceServicer_to_server, KpiServicer(kpis), KPI_SERVICE)

"""ReportsService: the points liability and the daily figures. Converts and delegates to
``services.loyalty.domain.reports``."""

from __future__ import annotations

from grpc import aio

from patron.loyalty.v1 import loyalty_pb2, loyalty_pb2_grpc
from services.loyalty.domain.reports import ReportsDesk
from services.runtime.proto_convert import to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

REPORTS_SERVICE = "patron.loyalty.v1.ReportsService"


class ReportsServicer(loyalty_pb2_grpc.ReportsServiceServicer):
    def __init__(self, desk: ReportsDesk) -> None:
        self._desk = desk

    async def GetLiability(
        self, request: loyalty_pb2.LiabilityRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.Liability:
        drawn = await self._desk.liability(current_tenant())
        figures = drawn.result
        return loyalty_pb2.Liability(
            outstanding_points=figures.outstanding_points,
            value_minor=figures.value_minor,
            currency=figures.currency,
            point_value_minor=figures.point_value_minor,
            customers_with_points=figures.customers_with_points,
            debt_points=figures.debt_points,
            as_of=to_timestamp(drawn.now),
        )

    async def GetDailyReport(
        self, request: loyalty_pb2.DailyReportRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.DailyReport:
        days = await self._desk.daily(current_tenant(), request.from_date, request.to_date)
        return loyalty_pb2.DailyReport(
            days=[
                loyalty_pb2.DailyPoints(
                    local_date=d.day.isoformat(),
                    earned=d.earned,
                    redeemed=d.redeemed,
                    expired=d.expired,
                    reversed=d.reversed,
                    adjusted_down=d.adjusted_down,
                )
                for d in days
            ]
        )


def reports_registration(desk: ReportsDesk) -> Registration:
    """The registration the loyalty service adds to serve ReportsService."""
    return Registration(
        loyalty_pb2_grpc.add_ReportsServiceServicer_to_server, ReportsServicer(desk), REPORTS_SERVICE
    )

"""ReportsService: the points liability and the daily figures."""

from __future__ import annotations

from datetime import UTC, date, datetime

from grpc import aio

from patron.loyalty.v1 import loyalty_pb2, loyalty_pb2_grpc
from services.loyalty.store.programs import tenant_program
from services.loyalty.store.reports import daily, liability
from services.runtime.database import Database
from services.runtime.errors import ViolationCollector
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

REPORTS_SERVICE = "patron.loyalty.v1.ReportsService"
MAX_REPORT_DAYS = 366


def _dates(first: str, last: str) -> tuple[date, date]:
    """The report's inclusive range; every problem is named (``from``, ``to``)."""
    errors = ViolationCollector()
    parsed: dict[str, date] = {}
    for name, value in (("from", first), ("to", last)):
        try:
            parsed[name] = date.fromisoformat(value)
        except ValueError:
            errors.add(name, "must be a date YYYY-MM-DD")
    errors.raise_if_any()
    if parsed["to"] < parsed["from"]:
        errors.add("to", "must not be before from")
    elif (parsed["to"] - parsed["from"]).days >= MAX_REPORT_DAYS:
        errors.add("to", f"the range may span at most {MAX_REPORT_DAYS} days")
    errors.raise_if_any()
    return parsed["from"], parsed["to"]


class ReportsServicer(loyalty_pb2_grpc.ReportsServiceServicer):
    def __init__(self, database: Database) -> None:
        self._database = database

    async def GetLiability(
        self, request: loyalty_pb2.LiabilityRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.Liability:
        async with self._database.read() as connection:
            tenant = await tenant_program(connection, current_tenant())
            figures = await liability(connection, tenant)
        answer = loyalty_pb2.Liability(
            outstanding_points=figures.outstanding_points,
            value_minor=figures.value_minor,
            currency=figures.currency,
            point_value_minor=figures.point_value_minor,
            customers_with_points=figures.customers_with_points,
            debt_points=figures.debt_points,
        )
        answer.as_of.FromDatetime(datetime.now(UTC))
        return answer

    async def GetDailyReport(
        self, request: loyalty_pb2.DailyReportRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.DailyReport:
        first, last = _dates(request.from_date, request.to_date)
        async with self._database.read() as connection:
            tenant = await tenant_program(connection, current_tenant())
            days = await daily(connection, tenant.tenant.tenant_id, tenant.tenant.timezone, first, last)
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


def reports_registration(database: Database) -> Registration:
    return Registration(
        loyalty_pb2_grpc.add_ReportsServiceServicer_to_server, ReportsServicer(database), REPORTS_SERVICE
    )

"""KpiService: a period's scoring KPIs and the first-order cohorts. Converts and delegates to
``services.scoring.domain.kpis``."""

from __future__ import annotations

from typing import Any

from grpc import aio

from patron.scoring.v1 import kpis_pb2, kpis_pb2_grpc
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant
from services.scoring.domain.kpis import Cohort, KpiDesk, KpiFigures

KPI_SERVICE = "patron.scoring.v1.KpiService"


def figures_to_proto(figures: KpiFigures) -> kpis_pb2.ScoringKpis:
    """The domain's figures as the contract's message (an unset optional field is a null figure)."""
    sums = figures.sums
    optional = {
        "active_share": figures.active_share,
        "aov_minor": figures.aov_minor,
        "arpu_minor": figures.arpu_minor,
        "arppu_minor": figures.arppu_minor,
        "repurchase_rate": figures.repurchase_rate,
        "ltv_minor": figures.ltv_minor,
        "nps": figures.nps,
        "csat": figures.csat,
        "csat_average": figures.csat_average,
    }
    message = kpis_pb2.ScoringKpis(
        from_date=figures.period.first.isoformat(),
        to_date=figures.period.last.isoformat(),
        timezone=figures.timezone,
        currency=figures.currency,
        customers=sums.customers,
        new_customers=sums.new_customers,
        active_customers=sums.active_customers,
        dau=figures.dau,
        wau=sums.wau,
        mau=sums.mau,
        orders=sums.orders,
        money_orders=sums.money_orders,
        revenue_minor=sums.revenue_minor,
        refunds_minor=sums.refunds_minor,
        buyers=sums.buyers,
        repeat_buyers=sums.repeat_buyers,
        new_buyers=sums.new_buyers,
        lifetime_buyers=sums.lifetime_buyers,
        lifetime_revenue_minor=sums.lifetime_revenue_minor,
        nps_responses=figures.nps_responses,
        nps_promoters=sums.nps_promoters,
        nps_detractors=sums.nps_detractors,
        csat_responses=sums.csat_responses,
        series=[
            kpis_pb2.KpiDay(
                local_date=day.day.isoformat(),
                active_customers=day.active_customers,
                new_customers=day.new_customers,
                new_buyers=day.new_buyers,
                wau=day.wau,
                mau=day.mau,
                orders=day.orders,
                revenue_minor=day.revenue_minor,
                refunds_minor=day.refunds_minor,
            )
            for day in figures.series
        ],
    )
    for name, value in optional.items():
        if value is not None:
            setattr(message, name, value)
    return message


def cohort_to_proto(cohort: Cohort) -> kpis_pb2.RetentionCohort:
    return kpis_pb2.RetentionCohort(
        start_date=cohort.start.isoformat(),
        customers=cohort.customers,
        complete=cohort.complete,
        periods=[
            kpis_pb2.RetentionPeriod(
                offset=p.offset,
                start_date=p.start.isoformat(),
                customers=p.customers,
                complete=p.complete,
                rate=p.rate,
            )
            for p in cohort.periods
        ],
    )


class KpiServicer(kpis_pb2_grpc.KpiServiceServicer):
    """Every call acts for the tenant of its metadata."""

    def __init__(self, desk: KpiDesk) -> None:
        self._desk = desk

    async def GetKpis(
        self, request: kpis_pb2.KpiRequest, context: aio.ServicerContext[Any, Any]
    ) -> kpis_pb2.ScoringKpis:
        figures = await self._desk.figures(
            current_tenant(), request.from_date, request.to_date, request.with_series
        )
        return figures_to_proto(figures)

    async def GetRetention(
        self, request: kpis_pb2.RetentionRequest, context: aio.ServicerContext[Any, Any]
    ) -> kpis_pb2.Retention:
        found = await self._desk.retention(
            current_tenant(), request.cohort, request.from_date, request.to_date
        )
        return kpis_pb2.Retention(cohorts=[cohort_to_proto(c) for c in found])


def kpis_registration(desk: KpiDesk) -> Registration:
    """The registration the scoring service adds to serve KpiService."""
    return Registration(kpis_pb2_grpc.add_KpiServiceServicer_to_server, KpiServicer(desk), KPI_SERVICE)

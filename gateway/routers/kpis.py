"""KPIs (scoring, loyalty, notify): `GET /v1/kpis` and `GET /v1/kpis/retention` (docs/kpis.md).

- **Overview** (`GET /v1/kpis?from=&to=`): every figure of the period (tenant-local days, both
  included, at most 366 days), the same figures for the **previous** period of equal length
  (`previous`), and a daily **series** for trend charts. The gateway asks the three services at once
  (scoring for customers, behaviour, orders, surveys; loyalty for coupons and points; notify for
  campaigns), the current and the previous period side by side, each call under its service's
  deadline. A service that fails or misses its deadline leaves its figures null and is named in
  `unavailable`; only when every call fails does the answer fail (503/504 as the services answer).
- **Retention** (`GET /v1/kpis/retention?cohort=week|month&from=&to=`): customers by the week or
  month of their first counted order in the period, and for each later period up to `to` how many
  of them ordered again (and the share).
- Both need the `operate` scope. A bad `from`/`to`/`cohort` is 422 naming it.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import TenantContext, scoped
from gateway.clients import ServiceClients
from gateway.dependencies import ERRORS, Clients, Tenant
from gateway.problems import ServiceCallError
from gateway.schemas import IsoDate
from patron.loyalty.v1 import kpis_pb2 as loyalty_kpis
from patron.loyalty.v1 import kpis_pb2_grpc as loyalty_grpc
from patron.notify.v1 import kpis_pb2 as notify_kpis
from patron.notify.v1 import kpis_pb2_grpc as notify_grpc
from patron.scoring.v1 import kpis_pb2 as scoring_kpis
from patron.scoring.v1 import kpis_pb2_grpc as scoring_grpc
from services.runtime.errors import InvalidArgument
from services.runtime.periods import EARLIEST, LATEST, MAX_PERIOD_DAYS, Period, checked_period

router = APIRouter(prefix="/v1", tags=["kpis"])

DEADLINE_SECONDS = {"scoring": 5.0, "loyalty": 3.0, "notify": 3.0}
"""Each service's deadline for its KPI call: a slower one is left out (``unavailable``), not waited for."""
LONG_PERIOD_DAYS = 31
LONG_SCORING_DEADLINE_SECONDS = 15.0
"""Scoring's deadline for a period longer than a month: its reads grow with the period's rollup rows
(a year's are a few hundred thousand at a million customers), so a loaded machine is given room."""


def deadline_of(service: str, period: Period) -> float:
    """The deadline of ``service``'s KPI call for ``period``."""
    if service == "scoring" and period.days > LONG_PERIOD_DAYS:
        return LONG_SCORING_DEADLINE_SECONDS
    return DEADLINE_SECONDS[service]


_FROM = Query(alias="from", description=f"first tenant-local day, YYYY-MM-DD, from {EARLIEST} to {LATEST}")
_TO = Query(
    alias="to", description=f"last tenant-local day, not before from, at most {MAX_PERIOD_DAYS} days after"
)


class Unavailable(BaseModel):
    service: str
    period: Literal["current", "previous"]
    code: str = Field(description="the gRPC status the service answered, e.g. DEADLINE_EXCEEDED")


class PeriodKpis(BaseModel):
    """One period's figures (docs/kpis.md defines each); null when the service that owns it did not
    answer, or when there is nothing to divide (an average with no orders, a rate with no buyers)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    # scoring: customers, behaviour, orders, surveys
    customers: int | None = None
    new_customers: int | None = None
    active_customers: int | None = None
    active_share: float | None = None
    dau: float | None = None
    wau: int | None = None
    mau: int | None = None
    orders: int | None = None
    revenue_minor: int | None = None
    refunds_minor: int | None = None
    aov_minor: int | None = None
    arpu_minor: int | None = None
    arppu_minor: int | None = None
    buyers: int | None = None
    repeat_buyers: int | None = None
    repurchase_rate: float | None = None
    new_buyers: int | None = None
    ltv_minor: int | None = None
    lifetime_buyers: int | None = None
    nps: float | None = None
    nps_responses: int | None = None
    csat: float | None = None
    csat_average: float | None = None
    csat_responses: int | None = None
    # loyalty: coupons and points
    coupons_issued: int | None = None
    coupons_redeemed: int | None = None
    coupon_redemption_rate: float | None = None
    coupon_redemptions: int | None = None
    coupon_discount_minor: int | None = None
    points_liability: int | None = None
    points_liability_value_minor: int | None = None
    # notify: campaigns whose audience was taken in the period
    campaigns: int | None = None
    campaign_recipients: int | None = None
    campaign_sent: int | None = None
    campaign_conversions: int | None = None
    campaign_conversion_rate: float | None = None
    campaign_orders: int | None = None
    campaign_revenue_minor: int | None = None
    campaign_coupon_cost_minor: int | None = None
    campaign_incremental_revenue_minor: int | None = None
    campaign_roi: float | None = None


class KpiDayOut(BaseModel):
    date: date
    active_customers: int
    new_customers: int
    new_buyers: int
    wau: int = Field(description="customers active on one of the 7 days ending that day")
    mau: int = Field(description="customers active on one of the 30 days ending that day")
    orders: int
    revenue_minor: int
    refunds_minor: int


class KpisOut(PeriodKpis):
    timezone: str = Field(description="the tenant's time zone: what a day is")
    currency: str = Field(description="the tenant's currency: the one of every *_minor figure")
    previous: PeriodKpis = Field(description="the period of equal length just before")
    series: list[KpiDayOut] = Field(description="every day of the period (empty when scoring is unavailable)")
    unavailable: list[Unavailable] = Field(description="the services whose figures are null, and why")


class RetentionPeriodOut(BaseModel):
    offset: int = Field(description="1 for the period after the cohort's own, and so on")
    start: date
    customers: int = Field(description="of the cohort, those with a counted order in this period")
    rate: float = Field(description="customers / the cohort's customers")
    complete: bool = Field(description="the period ends by `to` (else it is counted up to `to`)")


class CohortOut(BaseModel):
    start: date = Field(description="the cohort's week (Monday) or month")
    customers: int = Field(description="first counted order in this week or month, within from..to")
    complete: bool = Field(description="the whole week or month lies within from..to")
    periods: list[RetentionPeriodOut]


class RetentionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    cohort: Literal["week", "month"]
    from_: date = Field(alias="from")
    to: date
    cohorts: list[CohortOut]


def _period(first: date, last: date) -> Period:
    """The checked period; a fault is a 422 naming ``from`` or ``to``."""
    try:
        return checked_period(first, last)
    except InvalidArgument as error:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", v.field),
                    "msg": v.message,
                    "input": None,
                    "ctx": {"error": v.message},
                }
                for v in error.violations
            ]
        ) from None


def _optional(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


def _scoring(message: scoring_kpis.ScoringKpis) -> dict[str, Any]:
    names = [
        "customers",
        "new_customers",
        "active_customers",
        "dau",
        "wau",
        "mau",
        "orders",
        "revenue_minor",
        "refunds_minor",
        "buyers",
        "repeat_buyers",
        "new_buyers",
        "lifetime_buyers",
        "nps_responses",
        "csat_responses",
    ]
    optional = "active_share aov_minor arpu_minor arppu_minor repurchase_rate ltv_minor nps csat csat_average"
    return {
        **{name: getattr(message, name) for name in names},
        **{name: _optional(message, name) for name in optional.split()},
    }


def _loyalty(message: loyalty_kpis.LoyaltyKpis) -> dict[str, Any]:
    names = [
        "coupons_issued",
        "coupons_redeemed",
        "coupon_redemptions",
        "coupon_discount_minor",
        "points_liability",
        "points_liability_value_minor",
    ]
    return {
        **{name: getattr(message, name) for name in names},
        "coupon_redemption_rate": _optional(message, "coupon_redemption_rate"),
    }


def _notify(message: notify_kpis.CampaignKpis) -> dict[str, Any]:
    return {
        "campaigns": message.campaigns,
        "campaign_recipients": message.recipients,
        "campaign_sent": message.sent,
        "campaign_conversions": message.conversions,
        "campaign_conversion_rate": _optional(message, "conversion_rate"),
        "campaign_orders": message.orders,
        "campaign_revenue_minor": message.revenue_minor,
        "campaign_coupon_cost_minor": message.coupon_cost_minor,
        "campaign_incremental_revenue_minor": _optional(message, "incremental_revenue_minor"),
        "campaign_roi": _optional(message, "roi"),
    }


async def gather_kpis(clients: ServiceClients, tenant: TenantContext, period: Period) -> KpisOut:
    """The overview of ``period`` for the tenant: six calls at once (three services, this period and
    the previous one), each under its service's deadline; see the module docstring for failures."""
    tenant_id = tenant.tenant_id
    previous = period.previous()
    calls: list[tuple[str, str, Any, Any]] = []
    periods = {"current": period, "previous": previous}
    for which, asked in periods.items():
        first, last = asked.first.isoformat(), asked.last.isoformat()
        calls += [
            (
                "scoring",
                which,
                clients.stub(scoring_grpc.KpiServiceStub).GetKpis,
                scoring_kpis.KpiRequest(from_date=first, to_date=last, with_series=which == "current"),
            ),
            (
                "loyalty",
                which,
                clients.stub(loyalty_grpc.KpiServiceStub).GetKpis,
                loyalty_kpis.KpiRequest(from_date=first, to_date=last),
            ),
            (
                "notify",
                which,
                clients.stub(notify_grpc.KpiServiceStub).GetKpis,
                notify_kpis.KpiRequest(from_date=first, to_date=last),
            ),
        ]
    answers = await asyncio.gather(
        *(
            clients.call(
                service,
                method,
                request,
                tenant_id=tenant_id,
                deadline_seconds=deadline_of(service, periods[which]),
            )
            for service, which, method, request in calls
        ),
        return_exceptions=True,
    )
    failures = [a for a in answers if isinstance(a, BaseException)]
    if len(failures) == len(answers):
        raise failures[0]
    figures: dict[str, dict[str, Any]] = {"current": {}, "previous": {}}
    unavailable: list[Unavailable] = []
    series: list[KpiDayOut] = []
    for (service, which, _, _), answer in zip(calls, answers, strict=True):
        if isinstance(answer, ServiceCallError):
            unavailable.append(Unavailable(service=service, period=which, code=answer.error.code().name))
            continue
        if isinstance(answer, BaseException):
            raise answer
        if service == "scoring":
            figures[which].update(_scoring(answer))
            series = series or [_day(day) for day in answer.series]
        elif service == "loyalty":
            figures[which].update(_loyalty(answer))
        else:
            figures[which].update(_notify(answer))
    return KpisOut(
        **{"from": period.first, "to": period.last},
        **figures["current"],
        timezone=tenant.timezone,
        currency=tenant.currency,
        series=series,
        previous=PeriodKpis(**{"from": previous.first, "to": previous.last}, **figures["previous"]),
        unavailable=unavailable,
    )


def _day(day: scoring_kpis.KpiDay) -> KpiDayOut:
    return KpiDayOut(
        date=date.fromisoformat(day.local_date),
        active_customers=day.active_customers,
        new_customers=day.new_customers,
        new_buyers=day.new_buyers,
        wau=day.wau,
        mau=day.mau,
        orders=day.orders,
        revenue_minor=day.revenue_minor,
        refunds_minor=day.refunds_minor,
    )


@router.get("/kpis", response_model=KpisOut, responses=ERRORS, **scoped("operate"))
async def get_kpis(
    tenant: Tenant,
    clients: Clients,
    from_date: Annotated[IsoDate, _FROM],
    to_date: Annotated[IsoDate, _TO],
) -> KpisOut:
    """The period's KPIs with the previous period and a daily series (docs/kpis.md)."""
    return await gather_kpis(clients, tenant, _period(from_date, to_date))


@router.get("/kpis/retention", response_model=RetentionOut, responses=ERRORS, **scoped("operate"))
async def get_retention(
    tenant: Tenant,
    clients: Clients,
    cohort: Annotated[Literal["week", "month"], Query(description="group first orders by week or month")],
    from_date: Annotated[IsoDate, _FROM],
    to_date: Annotated[IsoDate, _TO],
) -> RetentionOut:
    """First-order cohorts of the period and the share of each that ordered again in each later
    week or month up to ``to``."""
    period = _period(from_date, to_date)
    request = scoring_kpis.RetentionRequest(
        cohort=cohort, from_date=period.first.isoformat(), to_date=period.last.isoformat()
    )
    answer = await clients.call(
        "scoring",
        clients.stub(scoring_grpc.KpiServiceStub).GetRetention,
        request,
        tenant_id=tenant.tenant_id,
        deadline_seconds=deadline_of("scoring", period),
    )
    return RetentionOut(
        **{"from": period.first, "to": period.last},
        cohort=cohort,
        cohorts=[
            CohortOut(
                start=date.fromisoformat(c.start_date),
                customers=c.customers,
                complete=c.complete,
                periods=[
                    RetentionPeriodOut(
                        offset=p.offset,
                        start=date.fromisoformat(p.start_date),
                        customers=p.customers,
                        rate=p.rate,
                        complete=p.complete,
                    )
                    for p in c.periods
                ],
            )
            for c in answer.cohorts
        ],
    )

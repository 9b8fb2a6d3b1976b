"""Scoring's KPIs: what a period's figures are, how the derived ones follow from the sums, and the
survey rule. Every definition is in docs/kpis.md; the store (``store.kpi_reads``) sums the rollups.

The store is a protocol so that these rules never see SQL. The derived figures are computed here
from integer sums only: averages of money are whole minor units rounded half up, rates and scores
are plain divisions (None when nothing was there to divide).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from services.runtime.errors import FieldViolation, InvalidArgument
from services.runtime.periods import Period, parse_period

SURVEYS: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5)}
"""The surveys the KPIs read from ``survey_response`` events, with their score ranges."""

WEEK_DAYS = 7
WAU_DAYS = 7
"""Weekly active customers: active on one of the 7 days ending on the period's last day."""
MAU_DAYS = 30
"""Monthly active customers: active on one of the 30 days ending on the period's last day."""


def survey_answer(event_type: str, properties_json: str) -> tuple[str, int] | None:
    """The (survey, score) a behaviour event answers: a ``survey_response`` whose properties name
    the survey (``"survey": "nps"`` or ``"csat"``) and give a whole ``score`` in its range (0-10,
    1-5). Anything else (no survey, another survey, a score out of range, a fraction, text, a
    boolean) answers nothing."""
    if event_type != "survey_response" or not properties_json:
        return None
    try:
        properties = json.loads(properties_json)
    except ValueError:
        return None
    if not isinstance(properties, dict):
        return None
    survey, score = properties.get("survey"), properties.get("score")
    if survey not in SURVEYS or isinstance(score, bool) or not isinstance(score, (int, float)):
        return None
    if isinstance(score, float):
        if not score.is_integer():
            return None
        score = int(score)
    low, high = SURVEYS[survey]
    return (survey, score) if low <= score <= high else None


def average_minor(total: int, count: int) -> int | None:
    """``total / count`` as whole minor units, halves rounded up; None when ``count`` is 0."""
    if count <= 0:
        return None
    return (2 * total + count) // (2 * count)


def ratio(part: int, whole: int) -> float | None:
    """``part / whole``; None when ``whole`` is 0."""
    return part / whole if whole > 0 else None


@dataclass(frozen=True, slots=True)
class PeriodSums:
    """What the store sums for one period (docs/kpis.md says which facts each counts)."""

    customers: int
    new_customers: int
    active_customers: int
    active_customer_days: int
    wau: int
    mau: int
    orders: int
    money_orders: int
    revenue_minor: int
    refunds_minor: int
    buyers: int
    repeat_buyers: int
    new_buyers: int
    lifetime_revenue_minor: int
    lifetime_buyers: int
    nps_promoters: int = 0
    nps_passives: int = 0
    nps_detractors: int = 0
    csat_responses: int = 0
    csat_satisfied: int = 0
    csat_score_sum: int = 0


@dataclass(frozen=True, slots=True)
class DaySums:
    """One tenant-local day of the daily series."""

    day: date
    active_customers: int
    new_customers: int
    new_buyers: int
    wau: int
    mau: int
    orders: int
    revenue_minor: int
    refunds_minor: int


@dataclass(frozen=True, slots=True)
class KpiFigures:
    """A period's scoring KPIs: the sums and what follows from them."""

    period: Period
    sums: PeriodSums
    timezone: str
    currency: str
    series: list[DaySums] = field(default_factory=list)

    @property
    def dau(self) -> float:
        """Average daily active customers over the period's days."""
        return self.sums.active_customer_days / self.period.days

    @property
    def aov_minor(self) -> int | None:
        return average_minor(self.sums.revenue_minor, self.sums.money_orders)

    @property
    def arpu_minor(self) -> int | None:
        return average_minor(self.sums.revenue_minor, self.sums.active_customers)

    @property
    def arppu_minor(self) -> int | None:
        return average_minor(self.sums.revenue_minor, self.sums.buyers)

    @property
    def ltv_minor(self) -> int | None:
        return average_minor(self.sums.lifetime_revenue_minor, self.sums.lifetime_buyers)

    @property
    def repurchase_rate(self) -> float | None:
        return ratio(self.sums.repeat_buyers, self.sums.buyers)

    @property
    def active_share(self) -> float | None:
        return ratio(self.sums.active_customers, self.sums.customers)

    @property
    def nps_responses(self) -> int:
        return self.sums.nps_promoters + self.sums.nps_passives + self.sums.nps_detractors

    @property
    def nps(self) -> float | None:
        """Promoters' share minus detractors' share, in points (-100 to 100)."""
        responses = self.nps_responses
        return 100 * (self.sums.nps_promoters - self.sums.nps_detractors) / responses if responses else None

    @property
    def csat(self) -> float | None:
        """The share of CSAT answers of 4 or 5, in percent."""
        responses = self.sums.csat_responses
        return 100 * self.sums.csat_satisfied / responses if responses else None

    @property
    def csat_average(self) -> float | None:
        return ratio(self.sums.csat_score_sum, self.sums.csat_responses)


COHORT_KINDS = ("week", "month")


@dataclass(frozen=True, slots=True)
class CohortPeriod:
    """A later period of a cohort: how many of it ordered again then."""

    offset: int
    start: date
    customers: int
    rate: float
    complete: bool


@dataclass(frozen=True, slots=True)
class Cohort:
    """The customers whose first counted order fell in one week or month."""

    start: date
    customers: int
    complete: bool
    periods: list[CohortPeriod]


@dataclass(frozen=True, slots=True)
class RetentionCounts:
    """What the store counts: cohort sizes, and per (cohort, later period) who ordered again."""

    sizes: dict[date, int]
    again: dict[tuple[date, date], int]


class KpiStore(Protocol):
    async def figures(self, tenant_id: uuid.UUID, period: Period, with_series: bool) -> KpiFigures: ...

    async def retention(self, tenant_id: uuid.UUID, kind: str, period: Period) -> RetentionCounts: ...


def period_start(day: date, kind: str) -> date:
    """The first day of the week (Monday) or month that contains ``day``."""
    if kind == "week":
        return date.fromordinal(day.toordinal() - day.weekday())
    return day.replace(day=1)


def next_start(start: date, kind: str) -> date:
    """The first day of the week or month after the one starting on ``start``."""
    if kind == "week":
        return date.fromordinal(start.toordinal() + WEEK_DAYS)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def cohorts(counts: RetentionCounts, kind: str, period: Period) -> list[Cohort]:
    """Each cohort with every later period up to the one containing the period's last day (zeros
    included); a period (or cohort) is complete when it ends within the asked period."""
    after_last = period.last + timedelta(days=1)
    answer = []
    for start in sorted(counts.sizes):
        later, offset = [], 1
        begin = next_start(start, kind)
        while begin <= period.last:
            end = next_start(begin, kind)
            again = counts.again.get((start, begin), 0)
            later.append(CohortPeriod(offset, begin, again, again / counts.sizes[start], end <= after_last))
            begin, offset = end, offset + 1
        whole = start >= period.first and next_start(start, kind) <= after_last
        answer.append(Cohort(start, counts.sizes[start], whole, later))
    return answer


class KpiDesk:
    """The KPI use cases of a tenant, on the rollups the consumer keeps."""

    def __init__(self, store: KpiStore) -> None:
        self._store = store

    async def figures(self, tenant_id: uuid.UUID, first: str, last: str, with_series: bool) -> KpiFigures:
        """The period's figures (``YYYY-MM-DD`` days, inclusive, at most a year); with the daily
        series when asked."""
        return await self._store.figures(tenant_id, parse_period(first, last), with_series)

    async def retention(self, tenant_id: uuid.UUID, kind: str, first: str, last: str) -> list[Cohort]:
        """First-order cohorts of the period by ``week`` or ``month`` and who ordered again later."""
        faults = [] if kind in COHORT_KINDS else [FieldViolation("cohort", "must be week or month")]
        try:
            period = parse_period(first, last)
        except InvalidArgument as error:
            raise InvalidArgument([*faults, *error.violations]) from None
        if faults:
            raise InvalidArgument(faults)
        return cohorts(await self._store.retention(tenant_id, kind, period), kind, period)

"""The points reports: what they hold, which date ranges they accept, and the use cases.

The store is a protocol so that these rules never see SQL; ``services.loyalty.store.reports``
implements it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

from services.loyalty.domain.as_of import AsOf
from services.runtime.errors import ViolationCollector

MAX_REPORT_DAYS = 366


@dataclass(frozen=True, slots=True)
class Liability:
    """Points outstanding over all accounts, valued at the programme's point value."""

    outstanding_points: int
    value_minor: int
    point_value_minor: int
    currency: str
    customers_with_points: int
    debt_points: int


@dataclass(frozen=True, slots=True)
class DayFigures:
    """Points moved on one tenant-local day, by kind of movement."""

    day: date
    earned: int
    redeemed: int
    expired: int
    reversed: int
    adjusted_down: int


class ReportsStore(Protocol):
    async def liability(self, tenant_id: uuid.UUID) -> Liability: ...

    async def daily(self, tenant_id: uuid.UUID, first: date, last: date) -> list[DayFigures]: ...


def report_dates(first: str, last: str) -> tuple[date, date]:
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


class ReportsDesk:
    """A tenant's points reports."""

    def __init__(self, store: ReportsStore) -> None:
        self._store = store

    async def liability(self, tenant_id: uuid.UUID) -> AsOf[Liability]:
        """The points outstanding now and what they are worth."""
        figures = await self._store.liability(tenant_id)
        return AsOf(figures, datetime.now(UTC))

    async def daily(self, tenant_id: uuid.UUID, first: str, last: str) -> list[DayFigures]:
        """Points moved per tenant-local day from ``first`` to ``last`` (``YYYY-MM-DD``) inclusive."""
        start, end = report_dates(first, last)
        return await self._store.daily(tenant_id, start, end)

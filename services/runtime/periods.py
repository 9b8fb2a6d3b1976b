"""A reporting period: an inclusive range of tenant-local days, as every KPI reads it.

The gateway checks a request's period with :func:`parse_period` before it calls a service, and each
service checks it again with the same function (a gRPC caller is not always the gateway), so the
rule and its messages are one: ``from`` and ``to`` are dates ``YYYY-MM-DD``, ``to`` is not before
``from``, the period spans at most :data:`MAX_PERIOD_DAYS` days, and both lie from
:data:`EARLIEST` to :data:`LATEST`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.runtime.errors import ViolationCollector

MAX_PERIOD_DAYS = 366
"""The longest period a KPI answers: a year, leap day included."""
EARLIEST = date(1970, 1, 1)
LATEST = date(2999, 12, 31)
"""The days a period may name. A comparison period that would start before ``EARLIEST`` (a period in
1970) is refused by the services like any other, so the overview lists its figures as unavailable."""


@dataclass(frozen=True, slots=True)
class Period:
    """Tenant-local days ``first`` to ``last``, both included."""

    first: date
    last: date

    @property
    def days(self) -> int:
        """How many days the period spans (1 for a single day)."""
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts (for comparison)."""
        last = self.first - timedelta(days=1)
        return Period(last - timedelta(days=self.days - 1), last)

    def each_day(self) -> list[date]:
        """Every day of the period, in order."""
        return [self.first + timedelta(days=offset) for offset in range(self.days)]


def parse_period(first: str, last: str, *, names: tuple[str, str] = ("from", "to")) -> Period:
    """The period from two ``YYYY-MM-DD`` texts; every fault is named by its field (``from``, ``to``)."""
    errors = ViolationCollector()
    parsed: dict[str, date] = {}
    for name, value in zip(names, (first, last), strict=True):
        try:
            if len(value) != 10:
                raise ValueError(value)
            parsed[name] = date.fromisoformat(value)
        except ValueError:
            errors.add(name, "must be a date YYYY-MM-DD")
    errors.raise_if_any()
    return checked_period(parsed[names[0]], parsed[names[1]], names=names)


def checked_period(first: date, last: date, *, names: tuple[str, str] = ("from", "to")) -> Period:
    """The period of two dates, once ``last`` is not before ``first`` and the span is allowed."""
    errors = ViolationCollector()
    for name, day in zip(names, (first, last), strict=True):
        if not EARLIEST <= day <= LATEST:
            errors.add(name, f"must be from {EARLIEST.isoformat()} to {LATEST.isoformat()}")
    errors.raise_if_any()
    if last < first:
        errors.add(names[1], f"must not be before {names[0]}")
    elif (last - first).days >= MAX_PERIOD_DAYS:
        errors.add(names[1], f"the period may span at most {MAX_PERIOD_DAYS} days")
    errors.raise_if_any()
    return Period(first, last)

"""Birthday date triggers: when a customer born on a month and day enters a birthday journey.

The rule (the store's sweep computes exactly this in SQL, ``store/journey_birthdays.py``; the tests
hold the two to each other):

- The customer's **next birthday occurrence** is the first date on or after their *local today* —
  today in the customer's time zone, else the tenant's, else UTC — that falls on their birthday.
- They enter a journey with ``days_before`` N when that occurrence lies in ``[today, today + N]``.
  The sweep runs every minute, so they normally enter on the first local day of that window; the
  window (not a single day) is what catches up after the sweep was down, after the journey was paused
  or activated late, or after a customer registered three days before their birthday.
- **Once per occurrence**: the entry key is ``birthday:<occurrence year>``, and an instance with that
  key stops any later sweep from entering the customer again for that year.
- **29 February** falls on **28 February** in a year without one. Why the 28th rather than 1 March:
  the birthday stays in the customer's birth month (a "February birthdays" segment or campaign and
  this journey agree), and the greeting and its coupon arrive no later than the day itself rather
  than a day after it — a gift early is a kindness, a gift late is a mistake.

Time zones: local dates are what matter, so the window of (month, day) pairs a sweep must look at is
``[UTC today - 1, UTC today + 1 + N]`` — every zone's today is within a day of UTC's (UTC-12 to
UTC+14) — which the store uses to prefilter by its (tenant, month, day) index.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

ENTRY_PREFIX = "birthday:"


@dataclass(frozen=True)
class WindowDay:
    """One (month, day) a sweep looks for, and how many days after UTC today it falls (-1 and up):
    a journey with ``days_before`` N needs only the days with ``offset <= N + 1``."""

    month: int
    day: int
    offset: int


def occurrence(year: int, month: int, day: int) -> date:
    """The date a birthday of ``month``/``day`` falls on in ``year`` (29 February on the 28th in a
    year without one: see the module)."""
    if month == 2 and day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)


def next_occurrence(month: int, day: int, today: date) -> date:
    """The first occurrence of the birthday on or after ``today``."""
    this_year = occurrence(today.year, month, day)
    return this_year if this_year >= today else occurrence(today.year + 1, month, day)


def due_occurrence(month: int, day: int, days_before: int, today: date) -> date | None:
    """The occurrence a customer enters for when the sweep runs on local ``today``, or None when
    their next birthday is more than ``days_before`` days away."""
    upcoming = next_occurrence(month, day, today)
    return upcoming if upcoming <= today + timedelta(days=days_before) else None


def entry_key(occurrence_date: date) -> str:
    """The key that lets a customer enter a birthday journey once per occurrence."""
    return f"{ENTRY_PREFIX}{occurrence_date.year}"


def local_today(now: datetime, zone: ZoneInfo) -> date:
    """Today's date in ``zone`` at the instant ``now``."""
    return now.astimezone(zone).date()


def window_days(now: datetime, max_days_before: int) -> list[WindowDay]:
    """The (month, day) pairs whose customers may be due at ``now`` for a journey with up to
    ``max_days_before`` days: every date of ``[UTC today - 1, UTC today + 1 + max_days_before]``, and
    29 February wherever a 28 February of a year without one is among them."""
    utc_today = now.astimezone(UTC).date()
    days: list[WindowDay] = []
    for offset in range(-1, max_days_before + 2):
        current = utc_today + timedelta(days=offset)
        days.append(WindowDay(current.month, current.day, offset))
        if current.month == 2 and current.day == 28 and not calendar.isleap(current.year):
            days.append(WindowDay(2, 29, offset))
    return days

"""Birthdays in the customer's own calendar: the next one, and the local day a moment falls on.

A birthday is a (month, day) that comes round every year in the customer's time zone (the tenant's
when the customer has none). 29 February is kept on 28 February in years without it, so that a
leap-day customer has a birthday every year and never two.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def anniversary(birthday: date, year: int) -> date:
    """The birthday as celebrated in ``year`` (29 February → 28 February in a non-leap year)."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birthday.replace(year=year)


def next_birthday(birthday: date, today: date) -> date:
    """The first birthday on or after ``today``."""
    this_year = anniversary(birthday, today.year)
    return this_year if this_year >= today else anniversary(birthday, today.year + 1)


def customer_zone(timezone: str | None, tenant_zone: ZoneInfo) -> ZoneInfo:
    """The customer's zone when they have a valid one, else the tenant's.

    Profile validates the zone on the way in; a name this Python does not know (an older tzdata)
    falls back to the tenant's zone rather than failing a whole segment.
    """
    if timezone:
        try:
            return ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return tenant_zone
    return tenant_zone


def local_today(now: datetime, zone: ZoneInfo) -> date:
    """The calendar date of ``now`` in ``zone``."""
    return now.astimezone(zone).date()


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone`` (where midnight is skipped, the instant of the jump)."""
    return datetime.combine(day, time(0), tzinfo=zone)


def days_until_birthday(birthday: date, now: datetime, zone: ZoneInfo) -> int:
    """Whole local days from today to the next birthday (0 on the day itself)."""
    today = local_today(now, zone)
    return (next_birthday(birthday, today) - today) // timedelta(days=1)

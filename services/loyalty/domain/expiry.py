"""When points expire, and tenant-local days.

Points are valid through a tenant-local day and expire at the local midnight that ends it; the
expiry job runs at each tenant's local midnight and takes what is left of every lot due.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.loyalty.domain.program import ExpiryPolicy


def local_date(moment: datetime, timezone: str) -> date:
    """The tenant-local calendar day of ``moment``."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def local_midnight(day: date, timezone: str) -> datetime:
    """The instant (UTC) at which the tenant-local ``day`` begins."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the month's last day (Jan 31 + 1 = Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expires_at(policy: ExpiryPolicy, earned_at: datetime, timezone: str) -> datetime | None:
    """When points earned at ``earned_at`` expire, by the policy in force when they were earned.

    ``months_after_earn``: valid through the same local day N months later. ``end_of_following_year``:
    valid through 31 December of the next local year. ``never``: None.
    """
    earned_on = local_date(earned_at, timezone)
    if policy.kind == "never":
        return None
    if policy.kind == "end_of_following_year":
        return local_midnight(date(earned_on.year + 2, 1, 1), timezone)
    assert policy.months is not None
    return local_midnight(add_months(earned_on, policy.months) + timedelta(days=1), timezone)

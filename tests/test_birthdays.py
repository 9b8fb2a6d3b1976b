"""Birthday date rules (domain/birthdays.py): a sweep every hour for two years, in zones on both sides
of the date line, enters each customer exactly once per birthday, on the first local day of the
window; 29 February falls on the 28th in other years; the (month, day) window covers every zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.notify.domain.birthdays import (
    due_occurrence,
    entry_key,
    local_today,
    next_occurrence,
    occurrence,
    window_days,
)

ZONES = [
    "UTC",
    "Asia/Shanghai",
    "Pacific/Kiritimati",  # UTC+14
    "Etc/GMT+12",  # UTC-12
    "Pacific/Pago_Pago",  # UTC-11
    "America/New_York",  # daylight saving
    "Australia/Lord_Howe",  # a 30-minute daylight saving shift
    "Asia/Kathmandu",  # UTC+5:45
    "Pacific/Apia",  # crossed the date line in 2011
]
birthdays = st.dates(date(2000, 1, 1), date(2000, 12, 31)).map(lambda d: (d.month, d.day))  # 2000: leap
instants = st.datetimes(datetime(2023, 1, 1), datetime(2031, 1, 1)).map(lambda t: t.replace(tzinfo=UTC))


def sweep(
    month: int, day: int, days_before: int, zone: ZoneInfo, start: datetime, hours: int
) -> dict[str, date]:
    """Run the rule every hour from ``start``; answer each entry key with the local day it entered."""
    entered: dict[str, date] = {}
    for hour in range(hours):
        today = local_today(start + timedelta(hours=hour), zone)
        due = due_occurrence(month, day, days_before, today)
        if due is not None:
            entered.setdefault(entry_key(due), today)
    return entered


@settings(max_examples=40, deadline=None)
@given(birthdays, st.integers(0, 30), st.sampled_from(ZONES), instants)
@example((2, 29), 3, "UTC", datetime(2027, 1, 1, tzinfo=UTC))
@example((2, 29), 0, "Pacific/Kiritimati", datetime(2027, 12, 31, 12, tzinfo=UTC))
@example((1, 1), 3, "Etc/GMT+12", datetime(2027, 12, 1, tzinfo=UTC))
@example((12, 31), 0, "Pacific/Apia", datetime(2028, 12, 1, tzinfo=UTC))
def test_a_customer_enters_once_per_birthday_on_the_first_day_of_the_window(
    birthday: tuple[int, int], days_before: int, zone_name: str, start: datetime
) -> None:
    month, day = birthday
    zone = ZoneInfo(zone_name)
    hours = 2 * 366 * 24 + 24 * 40
    entered = sweep(month, day, days_before, zone, start, hours)
    first_day = local_today(start, zone)
    last_day = local_today(start + timedelta(hours=hours - 1), zone)
    for key, day_entered in entered.items():
        year = int(key.removeprefix("birthday:"))
        occurred = occurrence(year, month, day)
        assert occurred - timedelta(days=days_before) <= day_entered <= occurred
        assert day_entered == max(first_day, occurred - timedelta(days=days_before))  # never late
    for year in range(first_day.year, last_day.year + 1):
        occurred = occurrence(year, month, day)
        if first_day <= occurred <= last_day:  # every birthday of the span was entered (dict: once)
            assert entry_key(occurred) in entered


@settings(max_examples=200, deadline=None)
@given(birthdays, st.integers(0, 30), st.sampled_from(ZONES), instants)
def test_the_window_of_days_holds_everyone_due_in_any_zone(
    birthday: tuple[int, int], days_before: int, zone_name: str, now: datetime
) -> None:
    month, day = birthday
    due = due_occurrence(month, day, days_before, local_today(now, ZoneInfo(zone_name)))
    if due is not None:
        offsets = [w.offset for w in window_days(now, 30) if (w.month, w.day) == (month, day)]
        assert offsets
        assert min(offsets) <= days_before + 1  # the store's per-journey prefilter keeps it


@given(st.integers(1900, 2400))
def test_29_february_falls_on_the_28th_in_a_year_without_one(year: int) -> None:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    assert occurrence(year, 2, 29) == date(year, 2, 29 if leap else 28)
    assert occurrence(year, 3, 1) == date(year, 3, 1)


def test_29_february_customers_enter_in_leap_and_other_years_alike() -> None:
    entered = sweep(2, 29, 3, ZoneInfo("Asia/Shanghai"), datetime(2026, 6, 1, tzinfo=UTC), 4 * 366 * 24)
    assert entered == {
        "birthday:2027": date(2027, 2, 25),
        "birthday:2028": date(2028, 2, 26),
        "birthday:2029": date(2029, 2, 25),
        "birthday:2030": date(2030, 2, 25),
    }


def test_the_year_boundary_enters_for_next_years_birthday() -> None:
    assert next_occurrence(1, 2, date(2027, 12, 30)) == date(2028, 1, 2)
    assert due_occurrence(1, 2, 3, date(2027, 12, 30)) == date(2028, 1, 2)
    assert due_occurrence(1, 2, 2, date(2027, 12, 30)) is None
    assert due_occurrence(12, 31, 0, date(2027, 12, 31)) == date(2027, 12, 31)
    assert entry_key(date(2028, 1, 2)) == "birthday:2028"


def test_the_date_line_decides_whose_birthday_is_today() -> None:
    now = datetime(2027, 3, 10, 11, 0, tzinfo=UTC)
    assert local_today(now, ZoneInfo("Pacific/Kiritimati")) == date(2027, 3, 11)
    assert local_today(now, ZoneInfo("Pacific/Pago_Pago")) == date(2027, 3, 10)


def test_the_window_adds_29_february_to_a_28th_without_one() -> None:
    days = window_days(datetime(2027, 2, 27, 23, 0, tzinfo=UTC), 1)
    assert [(d.month, d.day, d.offset) for d in days] == [
        (2, 26, -1),
        (2, 27, 0),
        (2, 28, 1),
        (2, 29, 1),
        (3, 1, 2),
    ]
    leap = window_days(datetime(2028, 2, 28, tzinfo=UTC), 0)
    assert [(d.month, d.day) for d in leap] == [(2, 27), (2, 28), (2, 29)]

"""How many points an order, a refund, a review or a share is worth (pure arithmetic, integers only).

Orders: the amount paid is converted to whole currency units with the programme's rounding, times
``points_per_unit``, then times the tier multiplier (the tier held before this order) and, on the
customer's birthday, the birthday multiplier; each percentage product is rounded down.

Refunds take back in proportion, cumulatively: after refunds totalling R of an order of amount A
that earned E, ``floor(E x R / A)`` points have been taken back in all (all E once fully refunded),
so partial refunds never take back more than was earned, whatever their number or order.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from services.loyalty.domain.program import EarnRules, Rounding


def whole_units(amount_minor: int, minor_per_unit: int, rounding: Rounding) -> int:
    """``amount_minor`` in whole currency units, rounded as the programme says."""
    units, remainder = divmod(amount_minor, minor_per_unit)
    if rounding == "up" and remainder:
        return units + 1
    if rounding == "half_up" and remainder * 2 >= minor_per_unit:
        return units + 1
    return units


# The most one order earns. An order may be 10^15 minor units and a programme may multiply each unit
# by up to 1,000 x 10 x 10; without a ceiling one order could pass PostgreSQL's BIGINT. The ceiling
# is above what the default programme earns for the largest order (4 x 10^15), and a balance would
# need over 900 orders at it to overflow (docs/money-bounds.md).
MAX_POINTS_PER_ORDER = 10**16


def order_points(
    amount_minor: int,
    minor_per_unit: int,
    rules: EarnRules,
    *,
    tier_multiplier_percent: int,
    birthday: bool,
) -> int:
    """Points an order of ``amount_minor`` earns (0 for a non-positive amount)."""
    if amount_minor <= 0:
        return 0
    points = whole_units(amount_minor, minor_per_unit, rules.rounding) * rules.points_per_unit
    points = points * tier_multiplier_percent // 100
    if birthday:
        points = points * rules.birthday_multiplier_percent // 100
    return min(points, MAX_POINTS_PER_ORDER)


def reversal_due(
    earned: int, amount_minor: int, refunded_total_minor: int, *, fully_refunded: bool, reversed_so_far: int
) -> int:
    """Points a refund takes back now, given all refunds of the order so far (this one included)."""
    if earned <= 0 or amount_minor <= 0:
        return 0
    if fully_refunded or refunded_total_minor >= amount_minor:
        target = earned
    else:
        target = earned * max(refunded_total_minor, 0) // amount_minor
    return max(target - reversed_so_far, 0)


def capped(points: int, already_today: int, cap: int) -> int:
    """What an award may add to ``already_today`` without passing the day's ``cap``."""
    return max(min(points, cap - already_today), 0)


def streak_points(rules: EarnRules, streak: int) -> int:
    """A sign-in's points on the ``streak``-th consecutive day: the base plus that day's bonus,
    capped by the programme's daily sign-in cap."""
    bonus = sum(b.bonus for b in rules.streak_bonuses if b.day == streak)
    return capped(rules.sign_in_base + bonus, 0, rules.daily_caps.sign_in)


def is_birthday(birthday_month_day: str | None, day: date) -> bool:
    """Whether ``day`` is the birthday ``MM-DD``; 29 February is celebrated on the 28th in other years."""
    if not birthday_month_day:
        return False
    if birthday_month_day == "02-29" and not calendar.isleap(day.year):
        return day.month == 2 and day.day == 28
    return day.strftime("%m-%d") == birthday_month_day


@dataclass(frozen=True, slots=True)
class SignInResult:
    """A daily sign-in: what this call awarded, the streak it continues, the tenant-local day and
    what the day's sign-in awarded. A repeat of the day awards nothing (``points_awarded`` 0,
    ``already_signed_in``) and carries the first sign-in's streak and ``awarded_today``, so that a
    storefront cannot read it as a second award."""

    points_awarded: int
    streak: int
    local_date: date
    already_signed_in: bool
    awarded_today: int


@dataclass(frozen=True, slots=True)
class PaidOrder:
    """An order.paid event as earning sees it (the customer is the survivor)."""

    order_id: str
    customer_id: uuid.UUID
    amount_minor: int
    currency: str
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class Refund:
    """An order.refunded event as earning sees it."""

    order_id: str
    refund_id: str
    amount_minor: int
    fully_refunded: bool
    refunded_at: datetime


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    """The order's customer (None: an order loyalty never credited), points taken, points owed."""

    customer_id: uuid.UUID | None
    taken: int
    owed: int

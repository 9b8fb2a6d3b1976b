"""A tenant's loyalty programme: earn rules, expiry, the tier ladder and the downgrade policy.

A programme is immutable and versioned: every PUT stores a new version, ledger entries record the
version they were computed with, and nothing already booked is ever recomputed under a newer one.
A tenant that never stored one runs :func:`default_program` as version 0.

:func:`validate_program` is the one place the rules of a programme live; every violation is
reported at once with the REST path of its field (``ladder.tiers[1].threshold``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from services.runtime.errors import ViolationCollector
from services.runtime.tenancy import Tenant

Rounding = Literal["down", "half_up", "up"]
ExpiryKind = Literal["months_after_earn", "end_of_following_year", "never"]
TierMetric = Literal["spend", "orders", "growth"]

ROUNDINGS: tuple[str, ...] = get_args(Rounding)
EXPIRY_KINDS: tuple[str, ...] = get_args(ExpiryKind)
TIER_METRICS: tuple[str, ...] = get_args(TierMetric)

# Limits of a programme document (each is also stated in docs/loyalty.md).
MAX_POINTS_PER_UNIT = 1_000
MAX_AWARD_POINTS = 100_000  # sign-in base, a streak bonus, review and share points
MAX_STREAK_BONUSES = 30
MAX_STREAK_DAY = 366
MAX_MULTIPLIER_PERCENT = 1_000
MAX_DAILY_CAP = 1_000_000
MAX_GROWTH = 10_000
MAX_EXPIRY_MONTHS = 120
MAX_WINDOW_MONTHS = 36
MAX_TIERS = 10
MAX_THRESHOLD = 10**15
MAX_DISCOUNT_PERCENT = 90
MAX_REVIEW_PERIOD_MONTHS = 24
MAX_GRACE_DAYS = 365
MAX_POINT_VALUE_MINOR = 1_000_000
TIER_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_TIER_NAME = 64
MAX_TEMPLATE_ID = 64

# ISO 4217 currencies whose minor unit is not 1/100 of the major one.
_MINOR_EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF"), 0),
    **dict.fromkeys(("UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def minor_per_unit(currency: str) -> int:
    """How many minor units make one whole currency unit (100 for CNY, 1 for JPY, 1000 for KWD)."""
    return int(10 ** _MINOR_EXPONENTS.get(currency.upper(), 2))


@dataclass(frozen=True, slots=True)
class StreakBonus:
    """Extra points on the ``day``-th consecutive local day of signing in."""

    day: int
    bonus: int


@dataclass(frozen=True, slots=True)
class DailyCaps:
    """The most points one customer may earn from each source in one tenant-local day."""

    sign_in: int
    review: int
    share: int


@dataclass(frozen=True, slots=True)
class EarnRules:
    """How points (and growth value for tiers) are earned."""

    points_per_unit: int
    rounding: Rounding
    sign_in_base: int
    streak_bonuses: tuple[StreakBonus, ...]
    review_points: int
    share_points: int
    birthday_multiplier_percent: int
    daily_caps: DailyCaps
    growth_per_unit: int
    growth_per_review: int


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """When earned points expire; ``months`` only for ``months_after_earn``."""

    kind: ExpiryKind
    months: int | None


@dataclass(frozen=True, slots=True)
class TierBenefits:
    discount_percent: int
    free_shipping: bool
    priority_service: bool
    birthday_coupon_template_id: str | None


@dataclass(frozen=True, slots=True)
class Tier:
    """A rung of the ladder; ``threshold`` is minor units (spend), a count (orders) or growth points."""

    code: str
    name: str
    threshold: int
    points_multiplier_percent: int
    benefits: TierBenefits


@dataclass(frozen=True, slots=True)
class TierLadder:
    """Tiers in ascending order of threshold; the first (threshold 0) is the base tier."""

    metric: TierMetric
    window_months: int
    tiers: tuple[Tier, ...]

    @property
    def base(self) -> Tier:
        return self.tiers[0]

    def tier(self, code: str) -> Tier | None:
        """The tier with ``code``, or None when this version of the ladder has no such tier."""
        return next((t for t in self.tiers if t.code == code), None)


@dataclass(frozen=True, slots=True)
class DowngradePolicy:
    """Downgrades happen only at a review every ``review_period_months``, after ``grace_days``."""

    review_period_months: int
    grace_days: int


@dataclass(frozen=True, slots=True)
class Program:
    """One version of a tenant's programme. ``point_value_minor``: what a point is worth to the
    merchant in the tenant currency's minor units (for the liability report)."""

    version: int
    earn: EarnRules
    expiry: ExpiryPolicy
    ladder: TierLadder
    downgrade: DowngradePolicy
    point_value_minor: int


def default_program(currency: str) -> Program:
    """The programme a new tenant runs (version 0): 1 point per whole currency unit rounded down,
    regular / silver / gold / platinum on rolling 12-month spend, expiry at the end of the
    following year."""
    unit = minor_per_unit(currency)

    def benefits(discount: int, shipping: bool, priority: bool) -> TierBenefits:
        return TierBenefits(discount, shipping, priority, None)

    return Program(
        version=0,
        earn=EarnRules(
            points_per_unit=1,
            rounding="down",
            sign_in_base=5,
            streak_bonuses=(StreakBonus(7, 20), StreakBonus(30, 100)),
            review_points=10,
            share_points=2,
            birthday_multiplier_percent=200,
            daily_caps=DailyCaps(sign_in=200, review=50, share=10),
            growth_per_unit=1,
            growth_per_review=10,
        ),
        expiry=ExpiryPolicy("end_of_following_year", None),
        ladder=TierLadder(
            metric="spend",
            window_months=12,
            tiers=(
                Tier("regular", "Regular", 0, 100, benefits(0, False, False)),
                Tier("silver", "Silver", 1_000 * unit, 120, benefits(10, False, False)),
                Tier("gold", "Gold", 5_000 * unit, 150, benefits(15, True, False)),
                Tier("platinum", "Platinum", 20_000 * unit, 200, benefits(20, True, True)),
            ),
        ),
        downgrade=DowngradePolicy(review_period_months=12, grace_days=30),
        point_value_minor=max(unit // 100, 1),
    )


def _in_range(errors: ViolationCollector, path: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        errors.add(path, f"must be between {low} and {high}")


def _validate_earn(errors: ViolationCollector, earn: EarnRules) -> None:
    _in_range(errors, "earn.points_per_unit", earn.points_per_unit, 0, MAX_POINTS_PER_UNIT)
    if earn.rounding not in ROUNDINGS:
        errors.add("earn.rounding", f"must be one of {', '.join(ROUNDINGS)}")
    _in_range(errors, "earn.sign_in_base", earn.sign_in_base, 0, MAX_AWARD_POINTS)
    if len(earn.streak_bonuses) > MAX_STREAK_BONUSES:
        errors.add("earn.streak_bonuses", f"at most {MAX_STREAK_BONUSES} bonuses")
    previous_day = 1
    for index, bonus in enumerate(earn.streak_bonuses):
        path = f"earn.streak_bonuses[{index}]"
        if not previous_day < bonus.day <= MAX_STREAK_DAY:
            errors.add(f"{path}.day", f"must be greater than {previous_day} and at most {MAX_STREAK_DAY}")
        previous_day = max(previous_day, bonus.day)
        _in_range(errors, f"{path}.bonus", bonus.bonus, 0, MAX_AWARD_POINTS)
    _in_range(errors, "earn.review_points", earn.review_points, 0, MAX_AWARD_POINTS)
    _in_range(errors, "earn.share_points", earn.share_points, 0, MAX_AWARD_POINTS)
    _in_range(
        errors,
        "earn.birthday_multiplier_percent",
        earn.birthday_multiplier_percent,
        100,
        MAX_MULTIPLIER_PERCENT,
    )
    for name in ("sign_in", "review", "share"):
        _in_range(errors, f"earn.daily_caps.{name}", getattr(earn.daily_caps, name), 0, MAX_DAILY_CAP)
    _in_range(errors, "earn.growth_per_unit", earn.growth_per_unit, 0, MAX_GROWTH)
    _in_range(errors, "earn.growth_per_review", earn.growth_per_review, 0, MAX_GROWTH)


def _validate_expiry(errors: ViolationCollector, expiry: ExpiryPolicy) -> None:
    if expiry.kind not in EXPIRY_KINDS:
        errors.add("expiry.kind", f"must be one of {', '.join(EXPIRY_KINDS)}")
    elif expiry.kind == "months_after_earn":
        if expiry.months is None:
            errors.add("expiry.months", "is required when kind is months_after_earn")
        else:
            _in_range(errors, "expiry.months", expiry.months, 1, MAX_EXPIRY_MONTHS)
    elif expiry.months is not None:
        errors.add("expiry.months", f"must be absent when kind is {expiry.kind}")


def _validate_tier(errors: ViolationCollector, index: int, tier: Tier, previous: int | None) -> None:
    path = f"ladder.tiers[{index}]"
    if not TIER_CODE.match(tier.code):
        errors.add(f"{path}.code", "must be 1-32 of a-z, 0-9, '_' and '-', starting with a letter or digit")
    if not 1 <= len(tier.name.strip()) <= MAX_TIER_NAME or tier.name != tier.name.strip():
        errors.add(f"{path}.name", f"must be 1-{MAX_TIER_NAME} characters without surrounding spaces")
    if index == 0:
        if tier.threshold != 0:
            errors.add(f"{path}.threshold", "the first (base) tier must have threshold 0")
    elif previous is not None and not previous < tier.threshold <= MAX_THRESHOLD:
        errors.add(f"{path}.threshold", f"must be greater than the previous tier's ({previous})")
    _in_range(
        errors,
        f"{path}.points_multiplier_percent",
        tier.points_multiplier_percent,
        100,
        MAX_MULTIPLIER_PERCENT,
    )
    _in_range(
        errors, f"{path}.benefits.discount_percent", tier.benefits.discount_percent, 0, MAX_DISCOUNT_PERCENT
    )
    template = tier.benefits.birthday_coupon_template_id
    if template is not None and not 1 <= len(template) <= MAX_TEMPLATE_ID:
        errors.add(f"{path}.benefits.birthday_coupon_template_id", f"must be 1-{MAX_TEMPLATE_ID} characters")


def _validate_ladder(errors: ViolationCollector, ladder: TierLadder) -> None:
    if ladder.metric not in TIER_METRICS:
        errors.add("ladder.metric", f"must be one of {', '.join(TIER_METRICS)}")
    _in_range(errors, "ladder.window_months", ladder.window_months, 1, MAX_WINDOW_MONTHS)
    if not 1 <= len(ladder.tiers) <= MAX_TIERS:
        errors.add("ladder.tiers", f"must hold 1 to {MAX_TIERS} tiers")
    seen: set[str] = set()
    previous: int | None = None
    for index, tier in enumerate(ladder.tiers):
        _validate_tier(errors, index, tier, previous)
        if tier.code in seen:
            errors.add(f"ladder.tiers[{index}].code", f"{tier.code!r} is used by an earlier tier")
        seen.add(tier.code)
        previous = tier.threshold if previous is None else max(previous, tier.threshold)


def validate_program(program: Program) -> Program:
    """Check every rule of a programme; raises InvalidArgument naming each field at fault."""
    errors = ViolationCollector()
    _validate_earn(errors, program.earn)
    _validate_expiry(errors, program.expiry)
    _validate_ladder(errors, program.ladder)
    _in_range(
        errors,
        "downgrade.review_period_months",
        program.downgrade.review_period_months,
        1,
        MAX_REVIEW_PERIOD_MONTHS,
    )
    _in_range(errors, "downgrade.grace_days", program.downgrade.grace_days, 0, MAX_GRACE_DAYS)
    _in_range(errors, "point_value_minor", program.point_value_minor, 0, MAX_POINT_VALUE_MINOR)
    errors.raise_if_any()
    return program


@dataclass(frozen=True, slots=True)
class TenantProgram:
    """A tenant's settings with the programme it runs now."""

    tenant: Tenant
    program: Program

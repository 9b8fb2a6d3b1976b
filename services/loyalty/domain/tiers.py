"""Member tiers: progress on the ladder's metric, upgrades at once, downgrades only at a review.

Rules (docs/membership-coupons.md states them for clients):

- **Progress** is the sum of a member's facts (paid orders, refunds, reviews) whose time lies in the
  rolling window ``(at - window_months, at]``: spend net of refunds (minor units), orders (a fully
  refunded order no longer counts) or growth value, as the ladder's ``metric`` says. A refund counts
  at its order's payment time, so it nets against the very order it refunds.
- **Upgrade** at once: a fact that brings progress to a higher tier's threshold moves the member to
  the highest tier it reaches (possibly skipping tiers) at the fact's time.
- **Review**: a member above the base tier is reviewed every ``review_period_months`` after their
  last tier change (anchored per member, at the same instant of the anniversary day). At a review
  the member keeps the tier when progress still reaches its threshold; otherwise a grace of
  ``grace_days`` starts, and at its end progress is measured again: still below → downgrade to the
  tier the progress reaches (possibly several steps), else the member keeps the tier and the review
  cycle goes on from the last tier change. A review is evaluated at its scheduled instant, not at
  the time the job happens to run, so running late or twice decides the same.
- A tier code that the current ladder no longer has counts as the base tier.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from services.loyalty.domain.expiry import add_months
from services.loyalty.domain.program import DowngradePolicy, Program, Tier, TierLadder, TierMetric

Direction = Literal["upgrade", "downgrade"]

# What made a tier change (tier history ``reason`` and the tier.changed event).
REASON_THRESHOLD = "threshold_met"
REASON_REVIEW = "review"
REASON_MERGE = "merge"


@dataclass(frozen=True, slots=True)
class Progress:
    """A member's totals over a window, for every metric at once."""

    spend_minor: int = 0
    orders: int = 0
    growth: int = 0

    def value(self, metric: TierMetric) -> int:
        """The total the ladder measures (``spend`` → minor units)."""
        if metric == "spend":
            return self.spend_minor
        if metric == "orders":
            return self.orders
        return self.growth

    def plus(self, other: Progress) -> Progress:
        return Progress(
            self.spend_minor + other.spend_minor, self.orders + other.orders, self.growth + other.growth
        )


@dataclass(frozen=True, slots=True)
class MemberState:
    """A member's stored tier state; ``next_review_at`` is None at the base tier."""

    tier_code: str
    tier_since: datetime
    next_review_at: datetime | None
    grace_until: datetime | None


@dataclass(frozen=True, slots=True)
class TierChange:
    """One move on the ladder, as tier history records it and tier.changed announces it."""

    from_tier: str
    to_tier: str
    direction: Direction
    reason: str
    value: int
    changed_at: datetime


def shift_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by whole calendar months (day clamped to the month's end), time kept."""
    day = add_months(moment.date(), months)
    return moment.replace(year=day.year, month=day.month, day=day.day)


def window_start(at: datetime, ladder: TierLadder) -> datetime:
    """The exclusive start of the rolling window that ends at ``at``."""
    return shift_months(at, -ladder.window_months)


def tier_rank(ladder: TierLadder, code: str) -> int:
    """The position of ``code`` on the ladder; a code the ladder no longer has counts as the base."""
    return next((index for index, tier in enumerate(ladder.tiers) if tier.code == code), 0)


def qualifying_rank(ladder: TierLadder, value: int) -> int:
    """The highest tier whose threshold ``value`` reaches (0, the base, at worst)."""
    rank = 0
    for index, tier in enumerate(ladder.tiers):
        if value >= tier.threshold:
            rank = index
    return rank


def _first_review_after(tier_since: datetime, policy: DowngradePolicy, after: datetime) -> datetime:
    """The first anniversary of the last tier change (every review period) strictly after ``after``."""
    period = policy.review_period_months
    cycles = max(1, ((after.year - tier_since.year) * 12 + after.month - tier_since.month) // period)
    review = shift_months(tier_since, cycles * period)
    while review <= after:
        cycles += 1
        review = shift_months(tier_since, cycles * period)
    return review


def upgrade_on_progress(
    program: Program, state: MemberState, value: int, at: datetime
) -> tuple[MemberState, TierChange | None]:
    """After a fact at ``at`` brought progress to ``value``: the new state and the upgrade, if any.

    Never downgrades (a refund lowers progress; only a review may lower the tier).
    """
    ladder = program.ladder
    held, reached = tier_rank(ladder, state.tier_code), qualifying_rank(ladder, value)
    if reached <= held:
        return state, None
    target = ladder.tiers[reached]
    upgraded = MemberState(target.code, at, shift_months(at, program.downgrade.review_period_months), None)
    return upgraded, TierChange(state.tier_code, target.code, "upgrade", REASON_THRESHOLD, value, at)


def review(program: Program, state: MemberState, value: int) -> tuple[MemberState, TierChange | None]:
    """Decide a due review (at ``state.next_review_at``) given the progress ``value`` measured then."""
    assert state.next_review_at is not None, "only a scheduled review can be decided"
    at = state.next_review_at
    ladder, policy = program.ladder, program.downgrade
    held, reached = tier_rank(ladder, state.tier_code), qualifying_rank(ladder, value)
    if held == 0:
        return replace(state, next_review_at=None, grace_until=None), None
    if reached >= held:
        return replace(
            state, next_review_at=_first_review_after(state.tier_since, policy, at), grace_until=None
        ), None
    if state.grace_until is None and policy.grace_days > 0:
        grace_end = at + timedelta(days=policy.grace_days)
        return replace(state, next_review_at=grace_end, grace_until=grace_end), None
    target = ladder.tiers[reached]
    next_review = shift_months(at, policy.review_period_months) if reached > 0 else None
    change = TierChange(state.tier_code, target.code, "downgrade", REASON_REVIEW, value, at)
    return MemberState(target.code, at, next_review, None), change


def merged_state(ladder: TierLadder, states: list[MemberState]) -> MemberState:
    """What the survivor of a merge holds: the state of the highest tier among those merged
    (ties: the survivor's own, which the caller lists first)."""
    best = states[0]
    for state in states[1:]:
        if tier_rank(ladder, state.tier_code) > tier_rank(ladder, best.tier_code):
            best = state
    return best


@dataclass(frozen=True, slots=True)
class MembershipView:
    """What ``GET /v1/customers/{id}/membership`` shows."""

    tier: Tier
    metric: TierMetric
    window_months: int
    value: int
    next_tier: Tier | None
    remaining: int | None
    tier_since: datetime | None
    next_review_at: datetime | None
    grace_until: datetime | None
    program_version: int


def describe(program: Program, state: MemberState | None, progress: Progress) -> MembershipView:
    """The member's tier, progress towards the next tier and review dates."""
    ladder = program.ladder
    rank = tier_rank(ladder, state.tier_code) if state is not None else 0
    value = progress.value(ladder.metric)
    next_tier = ladder.tiers[rank + 1] if rank + 1 < len(ladder.tiers) else None
    in_ladder = state is not None and ladder.tier(state.tier_code) is not None
    return MembershipView(
        tier=ladder.tiers[rank],
        metric=ladder.metric,
        window_months=ladder.window_months,
        value=value,
        next_tier=next_tier,
        remaining=max(next_tier.threshold - value, 0) if next_tier is not None else None,
        tier_since=state.tier_since if state is not None and in_ladder else None,
        next_review_at=state.next_review_at if state is not None and rank > 0 else None,
        grace_until=state.grace_until if state is not None and rank > 0 else None,
        program_version=program.version,
    )


# ---- the facts that move progress --------------------------------------------------------------


def order_progress(program: Program, amount_minor: int, minor_per_unit: int) -> Progress:
    """What a paid order adds: its amount, one order, growth per whole currency unit."""
    return Progress(amount_minor, 1, (amount_minor // minor_per_unit) * program.earn.growth_per_unit)


def refund_progress(order: Progress, refunded_before_minor: int, refunded_minor: int) -> tuple[Progress, int]:
    """What a refund takes back from the order it refunds (``order``: that order's own fact).

    Spend goes down by the amount refunded (never below what the order added); the order stops
    counting once fully refunded; growth goes down in proportion to the amount, rounded so that a
    full refund takes back exactly what the order gave. Returns the delta and the new refunded total.
    """
    amount = order.spend_minor
    total = min(amount, refunded_before_minor + max(refunded_minor, 0))
    taken = total - refunded_before_minor
    if taken <= 0 or amount <= 0:
        return Progress(), refunded_before_minor
    full_now = total == amount and refunded_before_minor < amount
    kept_growth_before = order.growth * (amount - refunded_before_minor) // amount
    kept_growth_after = order.growth * (amount - total) // amount
    delta = Progress(-taken, -1 if full_now else 0, kept_growth_after - kept_growth_before)
    return delta, total


def review_progress(program: Program) -> Progress:
    """What a review adds: the programme's growth per review."""
    return Progress(growth=program.earn.growth_per_review)

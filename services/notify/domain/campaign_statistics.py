"""Campaign lift: each variant against the holdout, with 95 % intervals and p-values (issue 14, item 4).

The store aggregates per group in SQL — recipients ``n``, converted ``x``, the sum ``S`` and the sum of
squares ``Q`` of revenue per recipient (minor units, zero for non-buyers) and the coupon cost — so the
input is those sums, not one value per recipient: a 1 M-recipient report must not ship a million ints
to Python, and ``n``, ``S``, ``Q`` are exactly what Welch's test needs (the variance numerator
``n·Q - S²`` is computed in exact integers, so there is no cancellation however large the sums).

Statistics (all two-sided, 95 % by default):

* **Absolute lift** ``p_v - p_h``: Newcombe's hybrid score interval (Newcombe 1998, method 10, via
  statsmodels ``confint_proportions_2indep(method="newcomb")``). It combines two Wilson intervals, so it
  keeps close to nominal coverage for small groups and rates near 0 or 1 — where the Wald interval
  collapses to a zero width (x = 0) or overshoots [-1, 1]; campaign conversion rates are typically a few
  percent. The p-value is the score test at a difference of 0 (statsmodels ``test_proportions_2indep
  (method="score", correction=False)``), which is the classic pooled two-proportion z-test.
* **Relative lift** ``p_v / p_h - 1``: statsmodels' ``"log-adjusted"`` ratio interval (the log of the
  risk ratio, with 0.5 added to the counts so x = 0 in the variant still gives an interval); None when
  the holdout has no conversions (the ratio is undefined). Its null hypothesis (ratio 1) is the same as
  the difference's (0), so it reports the same p-value.
* **Revenue per recipient** difference: Welch's t interval and test (unequal variances, Welch-
  Satterthwaite degrees of freedom, quantiles from ``scipy.stats.t``) — revenue is zero-inflated and
  the groups' variances differ, and with thousands of recipients the mean is close to normal.
* **Net revenue per recipient** (revenue minus coupon cost per recipient): the same Welch interval
  shifted by the cost difference (cost is a known total, not a sample); ``earned_more_than_cost`` is
  true when its whole interval lies above zero.

``winner`` is true only when the absolute-lift interval lies wholly above zero. With several variants
each one is compared with the holdout on its own, at 95 % each, without a multiple-comparison
correction: with k variants the chance that at least one null variant is called a winner grows to about
``1 - 0.975^k``; an operator comparing many variants should read the intervals, not just the flag.
``significant`` (per metric) means the interval excludes zero in either direction. Every figure is a
finite float, an int, a bool or None, so the result serialises to JSON as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep


@dataclass(frozen=True)
class GroupInput:
    """One group's aggregates as the store counts them (a variant or the holdout)."""

    name: str
    recipients: int
    converted: int
    revenue_minor: int = 0
    revenue_sq_minor: int = 0
    coupon_cost_minor: int = 0

    def __post_init__(self) -> None:
        """Reject aggregates no real group can have: they mean a bug in the query, not data to report."""
        if self.recipients < 0 or not 0 <= self.converted <= self.recipients:
            raise ValueError(f"group {self.name!r}: need 0 <= converted <= recipients")
        if self.revenue_minor < 0 or self.revenue_sq_minor < 0 or self.coupon_cost_minor < 0:
            raise ValueError(f"group {self.name!r}: revenue and cost cannot be negative")
        if self.recipients * self.revenue_sq_minor < self.revenue_minor**2:
            raise ValueError(f"group {self.name!r}: sum of squares below sum²/n (Cauchy-Schwarz)")

    @classmethod
    def from_revenues(
        cls, name: str, revenues: Sequence[int], converted: int, coupon_cost_minor: int = 0
    ) -> GroupInput:
        """Aggregate per-recipient revenues the way the SQL does (tests and small reports)."""
        values = [int(v) for v in revenues]
        return cls(
            name=name,
            recipients=len(values),
            converted=converted,
            revenue_minor=sum(values),
            revenue_sq_minor=sum(v * v for v in values),
            coupon_cost_minor=coupon_cost_minor,
        )


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval and p-value; None where the data cannot say."""

    value: float | None
    low: float | None
    high: float | None
    p_value: float | None
    significant: bool
    method: str


@dataclass(frozen=True)
class GroupStats:
    name: str
    recipients: int
    converted: int
    conversion_rate: float | None
    revenue_minor: int
    revenue_per_recipient: float | None
    coupon_cost_minor: int


@dataclass(frozen=True)
class Comparison:
    """One variant against the holdout."""

    variant: str
    absolute_lift: Estimate
    relative_lift: Estimate
    revenue_per_recipient_diff: Estimate
    net_revenue_per_recipient_diff: Estimate
    incremental_net_minor: float | None
    winner: bool
    earned_more_than_cost: bool | None


@dataclass(frozen=True)
class CampaignStatistics:
    confidence: float
    holdout: GroupStats | None
    variants: tuple[GroupStats, ...]
    comparisons: tuple[Comparison, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts for the JSON report (every figure is already finite or None)."""
        return asdict(self)


NEWCOMBE = "newcombe hybrid score interval; pooled two-proportion z (score) test"
LOG_ADJUSTED = "log-adjusted risk-ratio interval; p-value of the difference test"
WELCH = "welch t interval and test"
NONE_ESTIMATE = Estimate(None, None, None, None, False, "not computable")


def _finite(value: Any) -> float | None:
    """A float, or None for NaN/inf (JSON has no NaN, and a NaN would read as a number)."""
    number = float(value)
    return number if math.isfinite(number) else None


def _estimate(value: float | None, low: Any, high: Any, p_value: float | None, method: str) -> Estimate:
    lo, hi = _finite(low), _finite(high)
    significant = lo is not None and hi is not None and (lo > 0 or hi < 0)
    return Estimate(value, lo, hi, p_value, significant, method)


def group_stats(group: GroupInput) -> GroupStats:
    """Rates per recipient; None for an empty group rather than a division by zero."""
    n = group.recipients
    return GroupStats(
        name=group.name,
        recipients=n,
        converted=group.converted,
        conversion_rate=group.converted / n if n else None,
        revenue_minor=group.revenue_minor,
        revenue_per_recipient=group.revenue_minor / n if n else None,
        coupon_cost_minor=group.coupon_cost_minor,
    )


def _conversion_p_value(v: GroupInput, h: GroupInput) -> float | None:
    """Pooled z-test p; None when the pooled rate is 0 or 1 (no variance: the statistic is 0/0)."""
    pooled = v.converted + h.converted
    if pooled == 0 or pooled == v.recipients + h.recipients:
        return None
    # statsmodels also computes the ratio and odds ratio on the side, which divide by zero when one
    # group has no (or only) conversions; those figures are unused here, so numpy may stay quiet.
    with np.errstate(divide="ignore", invalid="ignore"):
        result = test_proportions_2indep(
            v.converted, v.recipients, h.converted, h.recipients, method="score", correction=False
        )
    return _finite(result.pvalue)


def _absolute_lift(v: GroupInput, h: GroupInput, alpha: float, p_value: float | None) -> Estimate:
    low, high = confint_proportions_2indep(
        v.converted, v.recipients, h.converted, h.recipients, method="newcomb", compare="diff", alpha=alpha
    )
    value = v.converted / v.recipients - h.converted / h.recipients
    return _estimate(value, low, high, p_value, NEWCOMBE)


def _relative_lift(v: GroupInput, h: GroupInput, alpha: float, p_value: float | None) -> Estimate:
    if h.converted == 0:
        return NONE_ESTIMATE
    ratio_low, ratio_high = confint_proportions_2indep(
        v.converted,
        v.recipients,
        h.converted,
        h.recipients,
        method="log-adjusted",
        compare="ratio",
        alpha=alpha,
    )
    value = (v.converted / v.recipients) / (h.converted / h.recipients) - 1.0
    return _estimate(value, float(ratio_low) - 1.0, float(ratio_high) - 1.0, p_value, LOG_ADJUSTED)


def _variance(group: GroupInput) -> float:
    """Sample variance from n, S, Q with an exact integer numerator (n·Q - S²)."""
    n = group.recipients
    return (n * group.revenue_sq_minor - group.revenue_minor**2) / (n * (n - 1))


def _welch(v: GroupInput, h: GroupInput, alpha: float, shift: float) -> Estimate:
    """Welch interval and p-value for mean(v) - mean(h) - shift; None without two recipients a side
    or with zero variance in both groups (the standard error is 0 and the statistic undefined)."""
    if v.recipients < 2 or h.recipients < 2:
        return NONE_ESTIMATE
    a, b = _variance(v) / v.recipients, _variance(h) / h.recipients
    se2 = a + b
    if se2 <= 0:
        return NONE_ESTIMATE
    se = math.sqrt(se2)
    df = se2**2 / (a**2 / (v.recipients - 1) + b**2 / (h.recipients - 1))
    diff = v.revenue_minor / v.recipients - h.revenue_minor / h.recipients - shift
    half = float(stats.t.ppf(1.0 - alpha / 2.0, df)) * se
    p_value = _finite(2.0 * stats.t.sf(abs(diff) / se, df))
    return _estimate(diff, diff - half, diff + half, p_value, WELCH)


def compare(variant: GroupInput, holdout: GroupInput | None, confidence: float = 0.95) -> Comparison:
    """One variant against the holdout; every lift None (and no winner) without a usable holdout."""
    if holdout is None or holdout.recipients == 0 or variant.recipients == 0:
        return Comparison(
            variant.name, NONE_ESTIMATE, NONE_ESTIMATE, NONE_ESTIMATE, NONE_ESTIMATE, None, False, None
        )
    alpha = 1.0 - confidence
    p_value = _conversion_p_value(variant, holdout)
    absolute = _absolute_lift(variant, holdout, alpha, p_value)
    n_v, n_h = variant.recipients, holdout.recipients
    cost_shift = variant.coupon_cost_minor / n_v - holdout.coupon_cost_minor / n_h
    net = _welch(variant, holdout, alpha, cost_shift)
    # The point estimate is known even without revenue variance to test (then earned is None).
    incremental = (variant.revenue_minor / n_v - holdout.revenue_minor / n_h - cost_shift) * n_v
    earned = None if net.low is None else net.low > 0
    return Comparison(
        variant=variant.name,
        absolute_lift=absolute,
        relative_lift=_relative_lift(variant, holdout, alpha, p_value),
        revenue_per_recipient_diff=_welch(variant, holdout, alpha, 0.0),
        net_revenue_per_recipient_diff=net,
        incremental_net_minor=_finite(incremental),
        winner=absolute.low is not None and absolute.low > 0,
        earned_more_than_cost=earned,
    )


def campaign_statistics(
    variants: Sequence[GroupInput], holdout: GroupInput | None, confidence: float = 0.95
) -> CampaignStatistics:
    """Per-group rates and each variant's lift over the holdout, compared one by one (see module doc)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    return CampaignStatistics(
        confidence=confidence,
        holdout=group_stats(holdout) if holdout is not None else None,
        variants=tuple(group_stats(v) for v in variants),
        comparisons=tuple(compare(v, holdout, confidence) for v in variants),
    )

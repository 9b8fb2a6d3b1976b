"""Campaign lift statistics: textbook values, independent recomputation, edge cases, seeded power/size."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from services.notify.domain.campaign_statistics import (
    GroupInput,
    campaign_statistics,
    compare,
)


def _wilson(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval, written out for an independent check of Newcombe's method."""
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _newcombe_by_hand(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    z = float(stats.norm.ppf(0.975))
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = _wilson(x1, n1, z)
    l2, u2 = _wilson(x2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873, table II, method 10 (hybrid score).
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
    ],
)
def test_absolute_lift_matches_newcombe_1998(
    x1: int, n1: int, x2: int, n2: int, low: float, high: float
) -> None:
    result = compare(GroupInput("A", n1, x1), GroupInput("holdout", n2, x2))
    lift = result.absolute_lift
    assert lift.value == pytest.approx(x1 / n1 - x2 / n2)
    assert lift.low == pytest.approx(low, abs=5e-5)
    assert lift.high == pytest.approx(high, abs=5e-5)
    assert (lift.low, lift.high) == pytest.approx(_newcombe_by_hand(x1, n1, x2, n2), abs=1e-12)
    assert result.winner
    assert lift.significant


def test_p_value_is_the_pooled_two_proportion_z_test() -> None:
    x1, n1, x2, n2 = 130, 1000, 100, 1000
    pooled = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    expected = 2 * float(stats.norm.sf(abs(z)))
    result = compare(GroupInput("A", n1, x1), GroupInput("holdout", n2, x2))
    assert result.absolute_lift.p_value == pytest.approx(expected, rel=1e-9)
    assert result.relative_lift.p_value == result.absolute_lift.p_value


def test_relative_lift_is_the_log_risk_ratio_interval_with_half_added() -> None:
    x1, n1, x2, n2 = 130, 1000, 100, 1000
    z = float(stats.norm.ppf(0.975))
    a, b, c, d = x1 + 0.5, n1 + 0.5, x2 + 0.5, n2 + 0.5
    log_rr = math.log((a / b) / (c / d))
    se = math.sqrt(1 / a - 1 / b + 1 / c - 1 / d)
    lift = compare(GroupInput("A", n1, x1), GroupInput("holdout", n2, x2)).relative_lift
    assert lift.value == pytest.approx(0.3)
    assert lift.low == pytest.approx(math.exp(log_rr - z * se) - 1, rel=1e-9)
    assert lift.high == pytest.approx(math.exp(log_rr + z * se) - 1, rel=1e-9)


def test_revenue_welch_from_sums_equals_scipy_on_the_arrays() -> None:
    rng = np.random.default_rng(14)
    variant = np.where(rng.random(3000) < 0.13, rng.integers(500, 20000, 3000), 0)
    holdout = np.where(rng.random(800) < 0.10, rng.integers(500, 15000, 800), 0)
    v = GroupInput.from_revenues("A", variant.tolist(), int((variant > 0).sum()), coupon_cost_minor=150_000)
    h = GroupInput.from_revenues("holdout", holdout.tolist(), int((holdout > 0).sum()))
    result = compare(v, h)
    reference = stats.ttest_ind(variant, holdout, equal_var=False)
    ci = reference.confidence_interval(0.95)
    rev = result.revenue_per_recipient_diff
    assert rev.value == pytest.approx(variant.mean() - holdout.mean(), rel=1e-12)
    assert (rev.low, rev.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert rev.p_value == pytest.approx(reference.pvalue, rel=1e-9)

    net = result.net_revenue_per_recipient_diff
    cost = 150_000 / 3000
    shifted = stats.ttest_ind(variant - cost, holdout, equal_var=False)
    assert net.value == pytest.approx(rev.value - cost)  # type: ignore[operator]
    assert (net.low, net.high) == pytest.approx(tuple(shifted.confidence_interval(0.95)), rel=1e-9)
    assert net.p_value == pytest.approx(shifted.pvalue, rel=1e-9)
    assert result.incremental_net_minor == pytest.approx(net.value * 3000)  # type: ignore[operator]
    assert result.earned_more_than_cost == (net.low is not None and net.low > 0)


def _no_nan_json(payload: object) -> str:
    return json.dumps(payload, allow_nan=False)


@pytest.mark.parametrize(
    ("variant", "holdout"),
    [
        (GroupInput("A", 0, 0), GroupInput("holdout", 100, 5)),
        (GroupInput("A", 100, 5), GroupInput("holdout", 0, 0)),
        (GroupInput("A", 100, 0), GroupInput("holdout", 100, 0)),
        (GroupInput("A", 100, 100, 10_000, 1_000_000), GroupInput("holdout", 100, 100, 10_000, 1_000_000)),
        (GroupInput("A", 100, 7, 700, 70_000), GroupInput("holdout", 100, 0)),
        (GroupInput("A", 1, 1, 50, 2500), GroupInput("holdout", 1, 0)),
    ],
)
def test_edge_cases_do_not_crash_and_serialise(variant: GroupInput, holdout: GroupInput) -> None:
    report = campaign_statistics([variant], holdout)
    text = _no_nan_json(report.to_dict())
    assert "NaN" not in text
    assert "Infinity" not in text


def test_edge_case_values() -> None:
    none = compare(GroupInput("A", 100, 5), None)
    assert none.absolute_lift.value is None
    assert none.relative_lift.value is None
    assert not none.winner
    both_zero = compare(GroupInput("A", 100, 0), GroupInput("holdout", 100, 0))
    assert both_zero.absolute_lift.value == 0.0
    assert both_zero.absolute_lift.p_value is None
    assert both_zero.relative_lift.value is None  # holdout without conversions: ratio undefined
    assert both_zero.revenue_per_recipient_diff.value is None
    assert not both_zero.winner
    assert both_zero.incremental_net_minor == 0.0
    assert both_zero.earned_more_than_cost is None  # no revenue variance: nothing to test
    holdout_zero = compare(GroupInput("A", 100, 7, 700, 70_000), GroupInput("holdout", 100, 0))
    assert holdout_zero.relative_lift.value is None
    assert holdout_zero.absolute_lift.low is not None
    assert holdout_zero.absolute_lift.low > 0
    assert campaign_statistics([GroupInput("A", 10, 1)], None).holdout is None
    empty = campaign_statistics([GroupInput("A", 0, 0)], None)
    assert empty.variants[0].conversion_rate is None


def test_impossible_aggregates_are_rejected() -> None:
    with pytest.raises(ValueError, match="converted <= recipients"):
        GroupInput("A", 10, 11)
    with pytest.raises(ValueError, match="sum of squares"):
        GroupInput("A", 4, 1, revenue_minor=100, revenue_sq_minor=100)  # Q < S²/n
    with pytest.raises(ValueError, match="confidence"):
        campaign_statistics([], None, confidence=1.5)


def test_each_variant_is_compared_with_the_holdout_separately() -> None:
    holdout = GroupInput("holdout", 2000, 200)
    report = campaign_statistics([GroupInput("A", 9000, 1170), GroupInput("B", 9000, 905)], holdout)
    a, b = report.comparisons
    assert a.variant == "A"
    assert a.winner
    assert b.variant == "B"
    assert not b.winner
    assert a.absolute_lift == compare(GroupInput("A", 9000, 1170), holdout).absolute_lift


def _simulate(
    rng: np.random.Generator, n: int, rate_v: float, rate_h: float
) -> tuple[GroupInput, GroupInput]:
    """Per-recipient Bernoulli conversions and order values, aggregated as the SQL would."""
    groups = []
    for name, rate in (("A", rate_v), ("holdout", rate_h)):
        bought = rng.random(n) < rate
        revenue = np.where(bought, rng.integers(1000, 9000, n), 0).astype(np.int64)
        groups.append(
            GroupInput(name, n, int(bought.sum()), int(revenue.sum()), int((revenue * revenue).sum()))
        )
    return groups[0], groups[1]


def test_seeded_uplift_is_detected_and_null_is_not() -> None:
    """30 % more conversions (10 % → 13 %) with 20,000 per group: z ≈ 0.03 / 0.0032 ≈ 9.4, power ≈ 1,
    so ≥ 95 % of 200 repetitions must find a winner. Under the null a winner needs the lower bound
    above 0 — about 2.5 % of runs (one tail of a 95 % interval); ≤ 5 % allows 10 of 200 against an
    expected 5 (binomial sd 2.2, so 2.3 sd of margin). Either-tail significance is expected in 5 %
    of runs; allowing ≤ 8 % (16 of 200, expected 10, sd 3.1) leaves about 2 sd for sampling noise."""
    rng = np.random.default_rng(20240614)
    repetitions, n = 200, 20_000
    detected = sum(compare(*_simulate(rng, n, 0.13, 0.10)).winner for _ in range(repetitions))
    null = [compare(*_simulate(rng, n, 0.10, 0.10)) for _ in range(repetitions)]
    false_winners = sum(c.winner for c in null)
    false_significant = sum(c.absolute_lift.significant for c in null)
    assert detected >= 0.95 * repetitions
    assert false_winners <= 0.05 * repetitions
    assert false_significant <= 0.08 * repetitions

"""The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

A customer buys at a Poisson rate lambda ~ Gamma(r, alpha) while alive and, after each purchase,
drops out for good with probability p ~ Beta(a, b). A customer's history is (x, t_x, T): x repeat
purchases, the last at t_x, observed for T since the first purchase (time in weeks here).

Every function takes column arrays (one row per distinct history, with a ``weights`` column counting
the customers that share it) and is vectorised: no Python loop over customers or histories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import expit, gammaln, hyp2f1, psi

from services.scoring.domain.predictive_optimise import (
    FloatArray,
    OptimiserReport,
    as_float,
    minimise,
    unique_inverse,
)

IntArray = npt.NDArray[np.int64]
# Time is rescaled for the optimiser so that the longest history is this long (as lifetimes does):
# alpha then starts near its optimum's scale whatever the tenant's age.
SCALED_MAX_T = 10.0


@dataclass(frozen=True, slots=True)
class BgNbdParams:
    """r, alpha (weeks): the purchase rates' Gamma; a, b: the dropout probability's Beta."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True, slots=True)
class BgNbdFit:
    """The fitted parameters, the total log-likelihood at them (in weeks) and the optimiser's report."""

    params: BgNbdParams
    log_likelihood: float
    report: OptimiserReport


@dataclass(frozen=True, slots=True)
class Histories:
    """Distinct purchase histories: x repeat purchases, recency t_x and age T in weeks, and weights."""

    x: IntArray
    t_x: FloatArray
    T: FloatArray  # the model's own name for it
    weights: FloatArray


def _terms(
    params: BgNbdParams, histories: Histories
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Per history: the log-likelihood (FHL 2005 eq. 6 in four terms A1..A4, combined stably), the
    shares w3 / w4 of its two branches (for the gradient), r + x, and whether x > 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = histories.x
    distinct, at = unique_inverse(x)
    rx = (r + distinct)[at]
    a1 = (gammaln(r + distinct) - gammaln(r))[at] + r * np.log(alpha)
    a2 = (gammaln(a + b) + gammaln(b + distinct) - gammaln(b) - gammaln(a + b + distinct))[at]
    a3 = -rx * np.log(alpha + histories.T)
    repeat = x > 0
    a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - rx * np.log(alpha + histories.t_x)
    a4 = np.where(repeat, a4, -np.inf)
    top = np.maximum(a3, a4)
    e3 = np.exp(a3 - top)
    e4 = np.exp(a4 - top)
    total = e3 + e4
    ll = a1 + a2 + top + np.log(total)
    return as_float(ll), as_float(e3 / total), as_float(e4 / total), as_float(rx), repeat


def log_likelihood(params: BgNbdParams, histories: Histories) -> float:
    """The weighted total log-likelihood of the histories under ``params`` (FHL 2005, eq. 6)."""
    ll = _terms(params, histories)[0]
    return float(np.sum(histories.weights * ll))


def _negative_mean_ll(log_params: FloatArray, histories: Histories) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood and its gradient with respect to the log-parameters."""
    # numpy scalars, not floats: an underflow to 0 then divides to inf (a bad step), never raises.
    r, alpha, a, b = np.exp(log_params)
    params = BgNbdParams(r, alpha, a, b)
    ll, w3, w4, rx, repeat = _terms(params, histories)
    x = histories.x
    distinct, at = unique_inverse(x)
    log_alpha_t = np.log(alpha + histories.T)
    log_alpha_tx = np.log(alpha + histories.t_x)
    d_r = (psi(r + distinct) - psi(r))[at] + np.log(alpha) - w3 * log_alpha_t - w4 * log_alpha_tx
    d_alpha = r / alpha - rx * (w3 / (alpha + histories.T) + w4 / (alpha + histories.t_x))
    shared = (psi(a + b) - psi(a + b + distinct))[at]
    d_a = shared + np.where(repeat, w4 / a, 0.0)
    d_b = shared + (psi(b + distinct) - psi(b))[at] - np.where(repeat, w4 / (b + np.maximum(x, 1) - 1), 0.0)
    weights = histories.weights
    total_weight = float(weights.sum())
    gradient = np.array([np.sum(weights * d) for d in (d_r, d_alpha, d_a, d_b)]) * np.exp(log_params)
    return -float(np.sum(weights * ll)) / total_weight, -gradient / total_weight


def fit(histories: Histories) -> BgNbdFit:
    """Maximum likelihood estimates of r, alpha, a, b (see predictive_optimise for the method).

    Time is rescaled so that the longest T is ``SCALED_MAX_T``: the likelihood changes only by a
    constant, and alpha is scaled back afterwards.
    """
    longest = float(np.max(histories.T)) if histories.T.size else 0.0
    scale = SCALED_MAX_T / longest if longest > 0 else 1.0
    scaled = Histories(histories.x, histories.t_x * scale, histories.T * scale, histories.weights)
    found = minimise(lambda p: _negative_mean_ll(p, scaled), np.zeros(4))
    r, alpha, a, b = (float(v) for v in np.exp(found.log_params))
    params = BgNbdParams(r, alpha / scale, a, b)
    with np.errstate(all="ignore"):
        total = log_likelihood(params, histories)
    return BgNbdFit(params, total, found.report)


def probability_alive(params: BgNbdParams, x: IntArray, t_x: FloatArray, T: FloatArray) -> FloatArray:  # noqa: N803
    """P(alive | x, t_x, T): 1 for a customer who never bought again (one can only drop out after a
    repeat purchase in this model), else 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x))."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_odds = (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1) - 1))
    return np.where(x == 0, 1.0, expit(-log_odds))


def _hyp2f1_times_power(
    first: FloatArray, second: FloatArray, third: FloatArray, z: FloatArray, power: FloatArray
) -> FloatArray:
    """2F1(first, second; third; z) * (1 - z)^power, stable where the plain series overflows.

    Where 2F1 overflows, Euler's transformation 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z) is
    used, in logarithms (as lifetimes does).
    """
    plain = hyp2f1(first, second, third, z) * np.exp(power * np.log1p(-z))
    euler = np.exp(
        np.log(hyp2f1(third - first, third - second, third, z))
        + (third - first - second + power) * np.log1p(-z)
    )
    return as_float(np.where(np.isfinite(plain), plain, euler))


def unconditional_repeat_purchases(
    params: BgNbdParams,
    t: float | FloatArray,
    x: IntArray,
    T: FloatArray,  # noqa: N803
) -> FloatArray:
    """E[repeat purchases in (T, T+t] | x, T, alive at T]: the numerator of FHL 2005 eq. (10).

    It depends on x and T only, not on t_x, so callers evaluate it once per distinct (x, T) and
    multiply by P(alive): E[purchases in (T, T+t] | x, t_x, T] = P(alive) * this.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t_array = np.asarray(t, dtype=np.float64)
    z = t_array / (alpha + T + t_array)
    shape = as_float(r + x)
    product = _hyp2f1_times_power(shape, as_float(b + x), as_float(a + b + x - 1.0), as_float(z), shape)
    return as_float((a + b + x - 1.0) / (a - 1.0) * (1.0 - product))


def expected_purchases(
    params: BgNbdParams,
    t: float,
    x: IntArray,
    t_x: FloatArray,
    T: FloatArray,  # noqa: N803
) -> FloatArray:
    """Expected purchases in the next ``t`` weeks given the history (FHL 2005, eq. 10)."""
    return probability_alive(params, x, t_x, T) * unconditional_repeat_purchases(params, t, x, T)

"""The Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV"; Hardie's
note 025).

Each purchase of a customer is worth z ~ Gamma(p, nu), and nu ~ Gamma(q, gamma) across customers; a
customer's mean repeat spend m over x repeat purchases is what is observed. It is fitted on customers
who bought again (x > 0) with a positive mean repeat spend, in the currency's major units (so gamma
reads in dollars or yuan, as the published figures do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln, psi

from services.scoring.domain.predictive_optimise import (
    FloatArray,
    OptimiserReport,
    as_float,
    minimise,
    unique_inverse,
)

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """p: shape of a purchase's value; q, gamma: shape and scale of the customers' rates nu."""

    p: float
    q: float
    gamma: float

    @property
    def population_mean(self) -> float:
        """E[spend per purchase] of a customer not seen buying again: p * gamma / (q - 1).

        Only defined for q > 1; below that the mean spend is infinite and the model is unusable.
        """
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")


@dataclass(frozen=True, slots=True)
class GammaGammaFit:
    """The fitted parameters, the total log-likelihood at them and the optimiser's report."""

    params: GammaGammaParams
    log_likelihood: float
    report: OptimiserReport


@dataclass(frozen=True, slots=True)
class Spends:
    """Distinct (x, m) pairs of repeat customers: repeat purchases, mean repeat spend, weights."""

    x: IntArray
    m: FloatArray
    weights: FloatArray


def _log_likelihood_rows(params: GammaGammaParams, spends: Spends) -> FloatArray:
    p, q, v = params.p, params.q, params.gamma
    x = spends.x.astype(np.float64)
    distinct, at = unique_inverse(spends.x)
    px = p * x
    by_x = (gammaln(p * distinct + q) - gammaln(p * distinct))[at]
    return as_float(
        by_x
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(spends.m)
        + px * np.log(x)
        - (px + q) * np.log(x * spends.m + v)
    )


def log_likelihood(params: GammaGammaParams, spends: Spends) -> float:
    """The weighted total log-likelihood of the mean spends under ``params`` (note 025, eq. 1a)."""
    return float(np.sum(spends.weights * _log_likelihood_rows(params, spends)))


def _negative_mean_ll(log_params: FloatArray, spends: Spends) -> tuple[float, FloatArray]:
    # numpy scalars, not floats: an underflow to 0 then divides to inf (a bad step), never raises.
    p, q, v = np.exp(log_params)
    params = GammaGammaParams(p, q, v)
    ll = _log_likelihood_rows(params, spends)
    x = spends.x.astype(np.float64)
    distinct, at = unique_inverse(spends.x)
    px = p * x
    log_xm_v = np.log(x * spends.m + v)
    digamma_pxq = psi(p * distinct + q)[at]
    d_p = x * (digamma_pxq - psi(p * distinct)[at] + np.log(spends.m) + np.log(x) - log_xm_v)
    d_q = digamma_pxq - psi(q) + np.log(v) - log_xm_v
    d_v = q / v - (px + q) / (x * spends.m + v)
    weights = spends.weights
    total_weight = float(weights.sum())
    gradient = np.array([np.sum(weights * d) for d in (d_p, d_q, d_v)]) * np.array([p, q, v])
    return -float(np.sum(weights * ll)) / total_weight, -gradient / total_weight


def fit(spends: Spends) -> GammaGammaFit:
    """Maximum likelihood estimates of p, q and gamma from repeat customers' mean spends (m > 0).

    Money is rescaled by the weighted mean of m for the optimiser (the likelihood changes by a
    constant only); gamma is scaled back.
    """
    scale = float(np.sum(spends.weights * spends.m) / np.sum(spends.weights))
    scaled = Spends(spends.x, spends.m / scale, spends.weights)
    found = minimise(lambda log_params: _negative_mean_ll(log_params, scaled), np.zeros(3))
    p, q, v = (float(value) for value in np.exp(found.log_params))
    params = GammaGammaParams(p, q, v * scale)
    with np.errstate(all="ignore"):
        total = log_likelihood(params, spends)
    return GammaGammaFit(params, total, found.report)


def expected_average_spend(params: GammaGammaParams, x: IntArray, m: FloatArray) -> FloatArray:
    """E[spend per purchase | x, m] (note 025, eq. 5): a weighted mean of the population's mean and
    the customer's own m, the customer's weight p x / (p x + q - 1) growing with x. A customer with
    no repeat purchase (x = 0) gets the population mean."""
    own = params.p * x / (params.p * x + params.q - 1.0)
    return (1.0 - own) * params.population_mean + own * m

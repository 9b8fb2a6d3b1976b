"""Predictions for a tenant: fit BG/NBD and Gamma-Gamma, then score every distinct history.

The store hands over the tenant's customers already summarised and grouped (see
``store/predictions.py``): distinct purchase histories (x, recency, age in whole days, with how many
customers share each) and distinct repeat spends (x, total net repeat spend in minor units, count).
Days become weeks here (days / 7), money becomes major units for the fit and minor units again in
the results. Everything is computed once per distinct history or spend, never per customer.

The outcome always has a ``status``; only ``fitted`` carries scores, and those are checked finite and
in range before anyone can store them:

- ``insufficient_data``: fewer customers than ``min_model_customers``, nobody bought on a second day,
  or no repeat customer spent more than zero;
- ``not_converged``: an optimiser found no finite optimum with a zero gradient (or a parameter ran
  off towards 0 or infinity);
- ``degenerate``: the fit converged but cannot be used: Gamma-Gamma's q <= 1 (infinite mean spend),
  or predictions that are not finite or out of range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.scoring.domain import bgnbd, gamma_gamma
from services.scoring.domain.clv import discounted_repeat_purchases
from services.scoring.domain.predictive_optimise import FloatArray

IntArray = npt.NDArray[np.int64]

FITTED = "fitted"
INSUFFICIENT_DATA = "insufficient_data"
NOT_CONVERGED = "not_converged"
DEGENERATE = "degenerate"
STATUSES = (FITTED, INSUFFICIENT_DATA, NOT_CONVERGED, DEGENERATE)

DAYS_PER_WEEK = 7.0
PURCHASES_HORIZON_DAYS = 30
# Stored money is bigint; a prediction beyond this is a sign of a broken fit, not a real customer.
MAX_PREDICTED_MINOR = 2.0**62

# ISO 4217 minor units that are not 2 (every other currency has cents).
_NO_DECIMALS = (
    *("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"),
    *("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"),
)
_EXPONENTS = {
    **dict.fromkeys(_NO_DECIMALS, 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point of the currency's major unit (ISO 4217): 2 for USD and CNY."""
    return _EXPONENTS.get(currency.upper(), 2)


@dataclass(frozen=True, slots=True)
class HistoryGroups:
    """Distinct (x, recency, age) in whole days and how many customers share each."""

    repeat_days: IntArray  # x: days with a purchase after the first
    recency_days: IntArray  # last purchase day - first purchase day
    age_days: IntArray  # as_of - first purchase day
    customers: IntArray


@dataclass(frozen=True, slots=True)
class SpendGroups:
    """Distinct (x, total net spend on the repeat days in minor units) and how many share each."""

    repeat_days: IntArray
    repeat_net_minor: IntArray
    customers: IntArray


@dataclass(frozen=True, slots=True)
class PredictionSettings:
    """The tenant's settings that shape a fit (from ScoringConfig and the tenant's currency)."""

    min_customers: int
    horizon_months: int
    annual_discount_rate: float
    currency_exponent: int


@dataclass(frozen=True, slots=True)
class HistoryScores:
    """Per history group: P(alive), expected purchases in 30 days, discounted purchases over the
    CLV horizon (already multiplied by P(alive))."""

    p_alive: FloatArray
    expected_purchases_30d: FloatArray
    discounted_purchases: FloatArray


@dataclass(frozen=True, slots=True)
class Prediction:
    """The outcome of fitting a tenant; scores only when ``status`` is ``fitted``."""

    status: str
    detail: str
    customers: int
    repeat_customers: int
    bgnbd: bgnbd.BgNbdFit | None = None
    gamma_gamma: gamma_gamma.GammaGammaFit | None = None
    history_scores: HistoryScores | None = None
    spend_minor: FloatArray | None = None  # per spend group: expected spend per purchase, minor units

    def clv_minor(self, history_row: npt.NDArray[np.intp], spend_row: npt.NDArray[np.intp]) -> FloatArray:
        """CLV (minor units, unrounded) of customers given the index of their history and spend
        group: expected spend per purchase times discounted expected purchases."""
        if self.history_scores is None or self.spend_minor is None:
            raise ValueError(f"a {self.status} prediction has no scores")
        return np.asarray(
            self.spend_minor[spend_row] * self.history_scores.discounted_purchases[history_row],
            dtype=np.float64,
        )


def _histories_in_weeks(groups: HistoryGroups) -> bgnbd.Histories:
    return bgnbd.Histories(
        x=groups.repeat_days.astype(np.int64),
        t_x=groups.recency_days / DAYS_PER_WEEK,
        T=groups.age_days / DAYS_PER_WEEK,
        weights=groups.customers.astype(np.float64),
    )


def _mean_repeat_spend_major(groups: SpendGroups, exponent: int) -> FloatArray:
    repeats = np.maximum(groups.repeat_days, 1)
    mean_minor = np.maximum(groups.repeat_net_minor, 0) / repeats
    return np.asarray(mean_minor / 10.0**exponent, dtype=np.float64)


def _score_histories(
    params: bgnbd.BgNbdParams, groups: HistoryGroups, settings: PredictionSettings
) -> HistoryScores:
    histories = _histories_in_weeks(groups)
    p_alive = bgnbd.probability_alive(params, histories.x, histories.t_x, histories.T)
    # Both conditional expectations depend on (x, T) only, times P(alive): evaluate per pair.
    pairs, pair_of = np.unique(np.stack([groups.repeat_days, groups.age_days]), axis=1, return_inverse=True)
    pair_of = pair_of.reshape(-1)
    pair_x = pairs[0].astype(np.int64)
    pair_t = pairs[1] / DAYS_PER_WEEK
    within_30d = bgnbd.unconditional_repeat_purchases(
        params, PURCHASES_HORIZON_DAYS / DAYS_PER_WEEK, pair_x, pair_t
    )
    discounted = discounted_repeat_purchases(
        params,
        pair_x,
        pair_t,
        months=settings.horizon_months,
        annual_discount_rate=settings.annual_discount_rate,
    )
    return HistoryScores(
        p_alive=p_alive,
        expected_purchases_30d=p_alive * within_30d[pair_of],
        discounted_purchases=p_alive * discounted[pair_of],
    )


def _scores_usable(scores: HistoryScores, spend_minor: FloatArray) -> bool:
    arrays = (scores.p_alive, scores.expected_purchases_30d, scores.discounted_purchases, spend_minor)
    if not all(bool(np.all(np.isfinite(a))) for a in arrays):
        return False
    clv_bound = float(np.max(spend_minor, initial=0.0)) * float(
        np.max(scores.discounted_purchases, initial=0)
    )
    return (
        bool(np.all((scores.p_alive >= 0.0) & (scores.p_alive <= 1.0)))
        and bool(np.all(scores.expected_purchases_30d >= 0.0))
        and bool(np.all(scores.discounted_purchases >= 0.0))
        and bool(np.all((spend_minor >= 0.0) & (spend_minor < MAX_PREDICTED_MINOR)))
        and clv_bound < MAX_PREDICTED_MINOR
    )


def predict(histories: HistoryGroups, spends: SpendGroups, settings: PredictionSettings) -> Prediction:
    """Fit both models on the tenant's groups and score every group; never raises for bad data."""
    customers = int(histories.customers.sum())
    repeaters = int(histories.customers[histories.repeat_days > 0].sum())
    if customers == 0 or customers < settings.min_customers:
        return Prediction(
            INSUFFICIENT_DATA,
            f"{customers} customers have a paid order up to as_of; the models need at least "
            f"{max(settings.min_customers, 1)} (min_model_customers)",
            customers,
            repeaters,
        )
    if repeaters == 0:
        return Prediction(INSUFFICIENT_DATA, "no customer bought again on a later day", customers, 0)

    with np.errstate(all="ignore"):
        purchases = bgnbd.fit(_histories_in_weeks(histories))
    if not purchases.report.converged:
        return Prediction(
            NOT_CONVERGED, f"BG/NBD: {purchases.report.message}", customers, repeaters, purchases
        )

    mean_spend = _mean_repeat_spend_major(spends, settings.currency_exponent)
    usable = (spends.repeat_days > 0) & (mean_spend > 0)
    if not usable.any():
        return Prediction(
            INSUFFICIENT_DATA, "no repeat customer spent more than zero", customers, repeaters, purchases
        )
    spend_data = gamma_gamma.Spends(
        spends.repeat_days[usable].astype(np.int64),
        mean_spend[usable],
        spends.customers[usable].astype(np.float64),
    )
    with np.errstate(all="ignore"):
        spending = gamma_gamma.fit(spend_data)
    if not spending.report.converged:
        detail = f"Gamma-Gamma: {spending.report.message}"
        return Prediction(NOT_CONVERGED, detail, customers, repeaters, purchases, spending)
    if spending.params.q <= 1.0:
        detail = "Gamma-Gamma q <= 1: the mean spend per purchase is unbounded"
        return Prediction(DEGENERATE, detail, customers, repeaters, purchases, spending)

    with np.errstate(all="ignore"):
        scores = _score_histories(purchases.params, histories, settings)
        expected_spend = gamma_gamma.expected_average_spend(
            spending.params, spends.repeat_days.astype(np.int64), mean_spend
        )
        spend_minor = np.asarray(expected_spend * 10.0**settings.currency_exponent, dtype=np.float64)
    if not _scores_usable(scores, spend_minor):
        detail = "the fitted parameters give predictions that are not finite or out of range"
        return Prediction(DEGENERATE, detail, customers, repeaters, purchases, spending)
    return Prediction(FITTED, "", customers, repeaters, purchases, spending, scores, spend_minor)

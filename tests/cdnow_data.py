"""The CDNOW sample that ships with lifetimes, and lifetimes' own fit of it as the reference.

Fader, Hardie & Lee (2005) fit BG/NBD and Gamma-Gamma on this cohort with a calibration period
ending 1997-09-30, time in weeks, purchases counted per day. ``reference()`` reproduces that with
lifetimes (``summary_data_from_transaction_data(freq="D", freq_multiplier=7)``) so tests can compare
customer by customer.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import lifetimes
import numpy as np
import pandas as pd

CALIBRATION_END = date(1997, 9, 30)
PUBLISHED = {
    "r": 0.243,
    "alpha": 4.414,
    "a": 0.793,
    "b": 2.426,
    "p": 6.25,
    "q": 3.74,
    "gamma": 15.44,
}
_NAMESPACE = uuid.UUID("6f1c1d0e-0c2a-4c55-9d4c-cd0000000000")


@dataclass(frozen=True)
class CdnowRow:
    line: int  # 1-based line of CDNOW_sample.txt
    customer: int  # the file's customer id
    day: date
    dollars: float

    @property
    def amount_minor(self) -> int:
        return round(self.dollars * 100)


def sample_path() -> Path:
    return Path(lifetimes.__file__).resolve().parent / "datasets" / "CDNOW_sample.txt"


@functools.cache
def rows() -> tuple[CdnowRow, ...]:
    """Every line of the file: customer id, id2, date YYYYMMDD, quantity, dollars."""
    parsed = []
    for line, text in enumerate(sample_path().read_text().splitlines(), start=1):
        customer, _, day, _, dollars = text.split()
        stamp = date(int(day[:4]), int(day[4:6]), int(day[6:]))
        parsed.append(CdnowRow(line, int(customer), stamp, float(dollars)))
    return tuple(parsed)


def customer_uuid(customer: int) -> uuid.UUID:
    """A stable UUID for a CDNOW customer id (for tests that write scoring's tables directly)."""
    return uuid.uuid5(_NAMESPACE, str(customer))


@dataclass(frozen=True)
class Reference:
    """lifetimes' summary (indexed by CDNOW customer id), fitted models and per-customer figures."""

    summary: pd.DataFrame
    params: dict[str, float]
    p_alive: pd.Series[Any]
    expected_30d: pd.Series[Any]
    expected_spend: pd.Series[Any]
    bgnbd: Any
    gamma_gamma: Any


@functools.cache
def reference() -> Reference:
    """lifetimes on the calibration period, as the lead checked it (r=0.2426 ... v=15.4435)."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    frame = pd.DataFrame(
        {
            "customer": [r.customer for r in rows()],
            "date": pd.to_datetime([r.day.isoformat() for r in rows()]),
            "dollars": [r.dollars for r in rows()],
        }
    )
    summary = summary_data_from_transaction_data(
        frame,
        "customer",
        "date",
        monetary_value_col="dollars",
        observation_period_end=CALIBRATION_END.isoformat(),
        freq="D",
        freq_multiplier=7,
    )
    purchases = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    repeaters = summary[summary["frequency"] > 0]
    spending = GammaGammaFitter().fit(repeaters["frequency"], repeaters["monetary_value"])
    params = {**purchases.params_.to_dict(), **spending.params_.to_dict()}
    params["gamma"] = params.pop("v")
    p_alive = pd.Series(
        purchases.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"]),
        index=summary.index,
    )
    expected = purchases.conditional_expected_number_of_purchases_up_to_time(
        30 / 7, summary["frequency"], summary["recency"], summary["T"]
    )
    spend = spending.conditional_expected_average_profit(summary["frequency"], summary["monetary_value"])
    return Reference(summary, params, p_alive, expected, spend, purchases, spending)


def summary_in_days(summary: pd.DataFrame) -> dict[str, np.ndarray[Any, Any]]:
    """lifetimes' summary back in whole days and total repeat cents (what scoring's SQL produces)."""
    x = summary["frequency"].to_numpy().astype(np.int64)
    return {
        "x": x,
        "recency_days": np.rint(summary["recency"].to_numpy() * 7).astype(np.int64),
        "age_days": np.rint(summary["T"].to_numpy() * 7).astype(np.int64),
        "repeat_net_minor": np.rint(summary["monetary_value"].to_numpy() * x * 100).astype(np.int64),
    }

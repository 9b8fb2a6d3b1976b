"""Customer lifetime value: expected purchases month by month, discounted, times expected spend.

    CLV = E[spend per purchase] * sum over k = 1..H of
          (E[purchases by month k] - E[purchases by month k-1]) / (1 + d_month)^k

with H = ``clv_horizon_months``, d_month = (1 + annual_discount_rate)^(1/12) - 1 (so twelve months
discount exactly as one year at the annual rate) and a month of 365.25 / 12 days (4.348 weeks). This
is lifetimes' ``customer_lifetime_value`` with its monthly discount rate derived from the annual one;
cash flows are discounted at the end of each month.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.scoring.domain.bgnbd import BgNbdParams, unconditional_repeat_purchases
from services.scoring.domain.predictive_optimise import FloatArray

IntArray = npt.NDArray[np.int64]

DAYS_PER_MONTH = 365.25 / 12
WEEKS_PER_MONTH = DAYS_PER_MONTH / 7


def monthly_discount_factors(months: int, annual_discount_rate: float) -> FloatArray:
    """1 / (1 + d_month)^k for k = 1..months, with d_month equivalent to the annual rate."""
    k = np.arange(1, months + 1, dtype=np.float64)
    return np.asarray((1.0 + annual_discount_rate) ** (-k / 12.0), dtype=np.float64)


def discounted_repeat_purchases(
    params: BgNbdParams,
    x: IntArray,
    T: FloatArray,  # noqa: N803
    *,
    months: int,
    annual_discount_rate: float,
    weeks_per_month: float = WEEKS_PER_MONTH,
) -> FloatArray:
    """Sum over the horizon's months of the discounted expected purchases, for a customer alive now.

    Like :func:`bgnbd.unconditional_repeat_purchases` it depends on (x, T) only: multiply by
    P(alive) for the customer's figure, and by the expected spend for its CLV.
    """
    if months == 0:
        return np.zeros(np.shape(x), dtype=np.float64)
    ends = np.arange(0, months + 1, dtype=np.float64) * weeks_per_month
    cumulative = unconditional_repeat_purchases(
        params, ends[np.newaxis, :], x[:, np.newaxis], T[:, np.newaxis]
    )
    per_month = np.diff(cumulative, axis=1)
    return np.asarray(per_month @ monthly_discount_factors(months, annual_discount_rate), dtype=np.float64)

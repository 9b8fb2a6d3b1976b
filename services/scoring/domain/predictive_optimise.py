"""Maximum likelihood on log-parameters: the one optimiser call both predictive models share.

Both models have strictly positive parameters, so they are optimised as logarithms (no bounds, no
constraint handling) with BFGS and an analytic gradient, from a fixed starting point: the same data
always gives the same parameters. The objective is the mean negative log-likelihood per customer, so
the tolerances mean the same thing for a tenant of 50 customers and one of a million.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

FloatArray = npt.NDArray[np.float64]
Objective = Callable[[FloatArray], tuple[float, FloatArray]]

MAX_ITERATIONS = 1_000
GRADIENT_TOLERANCE = 1e-9
# BFGS often stops with "precision loss" right at the optimum; a gradient this small is accepted.
ACCEPTED_GRADIENT_NORM = 1e-5
# Log-parameters beyond this mean a parameter ran off to 0 or infinity: no usable optimum.
MAX_ABS_LOG_PARAMETER = 30.0
# What a step into overflow is worth to BFGS: far uphill, but finite.
_UPHILL = float(np.finfo(np.float64).max) / 1e10


@dataclass(frozen=True, slots=True)
class OptimiserReport:
    """What the optimiser did, kept with the model so an operator can see how the fit went."""

    converged: bool
    iterations: int
    evaluations: int
    gradient_norm: float
    message: str


@dataclass(frozen=True, slots=True)
class LogFit:
    """The optimum found: log-parameters, the mean negative log-likelihood there, and the report."""

    log_params: FloatArray
    mean_negative_log_likelihood: float
    report: OptimiserReport


def minimise(objective: Objective, start: FloatArray) -> LogFit:
    """Minimise ``objective`` (value and gradient) from ``start``; never raises for a bad fit.

    ``converged`` is true only when the optimum is finite, the gradient there is (nearly) zero and no
    parameter ran off towards 0 or infinity.
    """

    def guarded(log_params: FloatArray) -> tuple[float, FloatArray]:
        # A step far outside the plausible region can overflow; tell BFGS it is uphill, not NaN.
        try:
            with np.errstate(all="ignore"):
                value, gradient = objective(log_params)
        except ArithmeticError:
            value, gradient = np.inf, np.zeros_like(log_params)
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            return _UPHILL, np.zeros_like(log_params)
        return value, gradient

    with np.errstate(all="ignore"):
        result = minimize(
            guarded,
            start,
            jac=True,
            method="BFGS",
            options={"maxiter": MAX_ITERATIONS, "gtol": GRADIENT_TOLERANCE},
        )
        try:
            final_value, final_gradient = objective(np.asarray(result.x, dtype=np.float64))
        except ArithmeticError:
            final_value, final_gradient = np.inf, np.full_like(start, np.inf)
    gradient_norm = float(np.max(np.abs(final_gradient))) if np.all(np.isfinite(final_gradient)) else np.inf
    log_params = np.asarray(result.x, dtype=np.float64)
    converged = (
        bool(np.isfinite(final_value))
        and bool(np.all(np.isfinite(log_params)))
        and gradient_norm <= ACCEPTED_GRADIENT_NORM
        and bool(np.all(np.abs(log_params) <= MAX_ABS_LOG_PARAMETER))
    )
    report = OptimiserReport(
        converged=converged,
        iterations=int(result.nit),
        evaluations=int(result.nfev),
        gradient_norm=gradient_norm if np.isfinite(gradient_norm) else -1.0,
        message=str(result.message),
    )
    return LogFit(log_params, float(final_value), report)


def as_float(values: object) -> FloatArray:
    """``values`` as a float64 array (scipy's special functions are typed as returning Any)."""
    return np.asarray(values, dtype=np.float64)


def unique_inverse(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """The distinct values and, per row, the index of its value: terms that depend on one small
    integer column (the repeat count) are computed once per distinct value, not once per row."""
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct.astype(np.int64), inverse.reshape(-1)

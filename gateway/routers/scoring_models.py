"""Predictive models (scoring service): the tenant's fitted BG/NBD and Gamma-Gamma models.

- A scoring run (``POST /v1/scoring/runs``) fits both models as of its date: orders paid up to the
  end of ``as_of`` in the tenant's time zone, time in weeks, several orders on one local day counted
  as one purchase. ``GET /v1/scoring/models`` answers the **latest fit** (the one customers' scores
  show); ``?as_of=YYYY-MM-DD`` answers the fit of that date. 404 when there is none yet.
- ``status`` is ``fitted``, or says why there are no parameters: ``insufficient_data`` (fewer
  customers than ``min_model_customers``, nobody bought again on a later day, or no repeat spend),
  ``not_converged`` (the optimiser found no usable optimum) or ``degenerate`` (the optimum cannot be
  used, e.g. Gamma-Gamma's q <= 1); ``detail`` explains. Parameters are then ``null``, never NaN.
- Units: BG/NBD's alpha in weeks; Gamma-Gamma's gamma in the currency's major unit (dollars, yuan),
  as the published figures are. The formulas are in docs/predictions.md.
"""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Scoring
from gateway.schemas import IsoDate
from patron.scoring.v1 import models_pb2
from services.runtime.proto_convert import from_timestamp

router = APIRouter(prefix="/v1/scoring", tags=["scoring"])


class BgNbdOut(BaseModel):
    r: float
    alpha: float = Field(description="in weeks")
    a: float
    b: float
    log_likelihood: float = Field(description="total over the customers, time in weeks")

    @classmethod
    def from_proto(cls, message: models_pb2.BgNbdParameters) -> BgNbdOut:
        return cls(
            r=message.r, alpha=message.alpha, a=message.a, b=message.b, log_likelihood=message.log_likelihood
        )


class GammaGammaOut(BaseModel):
    p: float
    q: float
    gamma: float = Field(description="in the currency's major unit")
    log_likelihood: float

    @classmethod
    def from_proto(cls, message: models_pb2.GammaGammaParameters) -> GammaGammaOut:
        return cls(p=message.p, q=message.q, gamma=message.gamma, log_likelihood=message.log_likelihood)


class FitOut(BaseModel):
    converged: bool
    iterations: int
    evaluations: int
    gradient_norm: float = Field(description="largest gradient component at the optimum")
    message: str

    @classmethod
    def from_proto(cls, report: models_pb2.FitDiagnostics) -> FitOut:
        return cls(
            converged=report.converged,
            iterations=report.iterations,
            evaluations=report.evaluations,
            gradient_norm=report.gradient_norm,
            message=report.message,
        )


class DiagnosticsOut(BaseModel):
    bgnbd: FitOut | None
    gamma_gamma: FitOut | None


class ModelOut(BaseModel):
    as_of: date = Field(description="orders up to the end of this tenant-local day")
    customers: int = Field(description="customers with a paid order up to as_of")
    repeat_customers: int = Field(description="of those, who bought again on a later day")
    bgnbd: BgNbdOut | None = Field(description="null unless status is fitted or a fit got that far")
    gamma_gamma: GammaGammaOut | None
    status: str = Field(description="fitted, insufficient_data, not_converged or degenerate")
    detail: str = Field(description="why, when the status is not fitted")
    currency: str
    clv_horizon_months: int
    annual_discount_rate: float
    fitted_at: datetime
    duration_ms: int = Field(description="time the fit and scoring took")
    diagnostics: DiagnosticsOut

    @classmethod
    def from_proto(cls, message: models_pb2.Model) -> ModelOut:
        return cls(
            as_of=date.fromisoformat(message.as_of),
            customers=message.customers,
            repeat_customers=message.repeat_customers,
            bgnbd=BgNbdOut.from_proto(message.bgnbd) if message.HasField("bgnbd") else None,
            gamma_gamma=GammaGammaOut.from_proto(message.gamma_gamma)
            if message.HasField("gamma_gamma")
            else None,
            status=message.status,
            detail=message.detail,
            currency=message.currency,
            clv_horizon_months=message.clv_horizon_months,
            annual_discount_rate=message.annual_discount_rate,
            fitted_at=from_timestamp(message.fitted_at),
            duration_ms=message.duration_ms,
            diagnostics=DiagnosticsOut(
                bgnbd=FitOut.from_proto(message.bgnbd_fit) if message.HasField("bgnbd_fit") else None,
                gamma_gamma=FitOut.from_proto(message.gamma_gamma_fit)
                if message.HasField("gamma_gamma_fit")
                else None,
            ),
        )


@router.get("/models", response_model=ModelOut, responses=ERRORS, **scoped("operate"))
async def get_model(scoring: Scoring, as_of: IsoDate | None = None) -> ModelOut:
    """The latest fitted model, or the one fitted as of ``as_of``; 404 when none has been fitted."""
    request = models_pb2.GetModelRequest()
    if as_of is not None:
        request.as_of = as_of.isoformat()
    return ModelOut.from_proto(await scoring.models.GetModel(request))

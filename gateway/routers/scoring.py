"""Scoring: a customer's scores, the tenant's RFM grid and lifecycle counts, configuration and runs.

- `GET /v1/customers/{id}/scores`: `rfm` is **null** for a customer without a paid order (fully
  refunded orders do not count) and before the tenant's first batch run (quintile thresholds come
  from a run); `lifecycle.stage` is null only while scoring has not yet seen the customer;
  `predictions` is null until a run has fitted the models for this customer. A merged-away id answers
  the survivor's scores (with `merged_into`); an unknown or another tenant's id answers 404. A new
  order re-scores its customer within a second against the stored thresholds.
- `GET /v1/scoring/rfm`: the occupied cells of the 5x5x5 grid, each of the eight groups' size and net
  spend in the RFM window, and the thresholds of the last run.
- `GET /v1/scoring/lifecycle`: customers per stage (all five).
- `GET|PUT /v1/scoring/config`: the whole configuration; PUT replaces it (fields left out take their
  defaults) and answers 422 naming each bad field (`rfm.fixed_thresholds.frequency`).
- `POST /v1/scoring/runs` `{"as_of"?}` → 202 `{"run_id"}`; while a run is queued or running for the
  tenant the answer is 409 with that run's id (`run_id` in the problem); within the tenant's cooldown
  after its last manual run, 429 with `Retry-After`. Runs across all tenants are bounded
  (`PATRON_SCORING_RUN_MAX_CONCURRENT`): a run waits as `queued` for a slot. `GET /v1/scoring/runs/{id}`:
  status, phase and progress.

The rules and formulas are in docs/scoring.md.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Profile, Scoring
from gateway.problems import ServiceCallError
from gateway.schemas import IsoDate, JsonObject, StrictBody
from patron.profile.v1 import profile_pb2
from patron.scoring.v1 import scoring_pb2
from services.runtime.proto_convert import from_timestamp, optional_time, text_or_none, to_date_text

router = APIRouter(tags=["scoring"])


class RfmOut(BaseModel):
    r: int = Field(ge=1, le=5)
    f: int = Field(ge=1, le=5)
    m: int = Field(ge=1, le=5)
    group: str = Field(description="core_value, to_develop, to_keep, to_retain, active_low_spend, ...")
    group_label: str
    recency_days: int
    frequency: int = Field(description="paid orders in the RFM window")
    monetary_minor: int = Field(description="net spend in the RFM window, minor units")

    @classmethod
    def from_proto(cls, message: scoring_pb2.Rfm) -> RfmOut:
        return cls(
            r=message.r,
            f=message.f,
            m=message.m,
            group=message.group,
            group_label=message.group_label,
            recency_days=message.recency_days,
            frequency=message.frequency,
            monetary_minor=message.monetary_minor,
        )


class LifecycleOut(BaseModel):
    stage: str | None
    reason: str | None = None


class PredictionsOut(BaseModel):
    p_alive: float | None = None
    expected_purchases_30d: float | None = None
    expected_avg_spend_minor: int | None = None
    clv_minor: int | None = None
    as_of: date | None = None

    @classmethod
    def from_proto(cls, message: scoring_pb2.Predictions) -> PredictionsOut:
        return cls(
            p_alive=message.p_alive,
            expected_purchases_30d=message.expected_purchases_30d,
            expected_avg_spend_minor=message.expected_avg_spend_minor,
            clv_minor=message.clv_minor,
            as_of=date.fromisoformat(message.as_of),
        )


class ScoresOut(BaseModel):
    customer_id: str
    merged_into: str | None = None
    as_of: date | None
    rfm: RfmOut | None
    lifecycle: LifecycleOut
    engagement: float
    predictions: PredictionsOut
    features: dict[str, Any]

    @classmethod
    def from_proto(cls, message: scoring_pb2.CustomerScores, merged_into: str | None) -> ScoresOut:
        """The customer's scores; ``merged_into`` is set when the path named a merged-away id."""
        return cls(
            customer_id=message.customer_id,
            merged_into=merged_into,
            as_of=date.fromisoformat(message.as_of),
            rfm=RfmOut.from_proto(message.rfm) if message.HasField("rfm") else None,
            lifecycle=LifecycleOut(stage=message.lifecycle.stage, reason=message.lifecycle.reason),
            engagement=message.engagement,
            predictions=PredictionsOut.from_proto(message.predictions)
            if message.HasField("predictions")
            else PredictionsOut(),
            features=_features(message.features),
        )

    @classmethod
    def unscored(cls, customer_id: str, merged_into: str | None) -> ScoresOut:
        """A customer profile knows and scoring's projection has not caught up with yet."""
        return cls(
            customer_id=customer_id,
            merged_into=merged_into,
            as_of=None,
            rfm=None,
            lifecycle=LifecycleOut(stage=None),
            engagement=0.0,
            predictions=PredictionsOut(),
            features={},
        )


def _features(message: scoring_pb2.Features) -> dict[str, Any]:
    optional = ("mean_gap_days", "last_gap_days", "avg_unit_price_minor", "coupon_share", "active_hour")
    times = ("first_order_at", "last_order_at", "last_seen_at")
    return {
        "order_count": message.order_count,
        "net_spend_minor": message.net_spend_minor,
        "top_category": text_or_none(message.top_category),
        "top_brand": text_or_none(message.top_brand),
        "price_band": text_or_none(message.price_band),
        **{name: getattr(message, name) if message.HasField(name) else None for name in optional},
        **{name: optional_time(message, name) for name in times},
        "last_activity": {k: from_timestamp(v) for k, v in sorted(message.last_activity.items())},
        "activity_counts": {
            k: {"7d": v.last_7d, "30d": v.last_30d, "90d": v.last_90d}
            for k, v in sorted(message.activity_counts.items())
        },
    }


@router.get(
    "/v1/customers/{customer_id}/scores", response_model=ScoresOut, responses=ERRORS, **scoped("read")
)
async def get_scores(customer_id: str, profile: Profile, scoring: Scoring) -> ScoresOut:
    """The customer's RFM, lifecycle stage, engagement and predictions (see the module rules)."""
    customer = await profile.customers.GetCustomer(profile_pb2.GetCustomerRequest(customer_id=customer_id))
    live = customer.customer_id
    merged_into = text_or_none(customer.merged_into)
    try:
        scores = await scoring.scoring.GetCustomerScores(
            scoring_pb2.GetCustomerScoresRequest(customer_id=live)
        )
    except ServiceCallError as error:
        if error.error.code().name != "NOT_FOUND":
            raise
        return ScoresOut.unscored(live, merged_into)
    return ScoresOut.from_proto(scores, merged_into)


@router.get("/v1/scoring/rfm", responses=ERRORS, **scoped("operate"))
async def rfm_summary(scoring: Scoring) -> dict[str, Any]:
    """The RFM grid, the eight groups and the thresholds of the last run."""
    summary = await scoring.scoring.GetRfmSummary(scoring_pb2.GetRfmSummaryRequest())
    thresholds = None
    if summary.HasField("thresholds"):
        t = summary.thresholds
        thresholds = {
            "as_of": t.as_of,
            "method": t.method,
            "split": t.split,
            "recency_days": list(t.recency_days),
            "frequency": list(t.frequency),
            "monetary_minor": list(t.monetary_minor),
            "split_values": {
                "recency_days": t.recency_split,
                "frequency": t.frequency_split,
                "monetary_minor": t.monetary_split,
            },
        }
    return {
        "grid": [{"r": c.r, "f": c.f, "m": c.m, "customers": c.customers} for c in summary.cells],
        "groups": [
            {"group": g.group, "label": g.label, "customers": g.customers, "spend_minor": g.spend_minor}
            for g in summary.groups
        ],
        "customers_scored": summary.customers_scored,
        "customers_without_rfm": summary.customers_without_rfm,
        "thresholds": thresholds,
    }


@router.get("/v1/scoring/lifecycle", responses=ERRORS, **scoped("operate"))
async def lifecycle_summary(scoring: Scoring) -> dict[str, Any]:
    """Customers per lifecycle stage."""
    summary = await scoring.scoring.GetLifecycleSummary(scoring_pb2.GetLifecycleSummaryRequest())
    return {"stages": {s.stage: s.customers for s in summary.stages}}


@router.get("/v1/scoring/config", responses=ERRORS, **scoped("operate"))
async def get_config(scoring: Scoring) -> dict[str, Any]:
    """The tenant's scoring configuration (defaults until an operator sets one)."""
    document = await scoring.scoring.GetConfig(scoring_pb2.GetConfigRequest())
    result: dict[str, Any] = json.loads(document.document_json)
    return result


@router.put("/v1/scoring/config", responses=ERRORS, **scoped("operate"))
async def put_config(
    scoring: Scoring,
    body: Annotated[JsonObject, Body()],
) -> dict[str, Any]:
    """Replace the configuration; every field is checked and each fault named (422)."""
    document = await scoring.scoring.PutConfig(scoring_pb2.PutConfigRequest(document_json=json.dumps(body)))
    result: dict[str, Any] = json.loads(document.document_json)
    return result


class RunIn(StrictBody):
    as_of: IsoDate | None = Field(default=None, description="the tenant's today when absent")


def run_out(run: scoring_pb2.Run) -> dict[str, Any]:
    """The REST shape of a run."""
    return {
        "run_id": run.run_id,
        "status": run.status,
        "as_of": run.as_of,
        "trigger": run.trigger,
        "progress": {"phase": run.phase, "done": run.done, "total": run.total},
        "details": json.loads(run.details_json or "{}"),
        "error": text_or_none(run.error),
        "started_at": from_timestamp(run.started_at),
        "finished_at": optional_time(run, "finished_at"),
    }


@router.post("/v1/scoring/runs", status_code=202, responses=ERRORS, **scoped("operate"))
async def start_run(scoring: Scoring, body: RunIn | None = None) -> JSONResponse:
    """Start a batch run (queued until a slot frees); 409 with the active run's id while one is queued
    or running; 429 within the tenant's cooldown."""
    as_of = to_date_text(body.as_of if body is not None else None)
    run = await scoring.scoring.StartRun(scoring_pb2.StartRunRequest(as_of=as_of))
    return JSONResponse(status_code=202, content={"run_id": run.run_id, "status": run.status})


@router.get("/v1/scoring/runs/{run_id}", responses=ERRORS, **scoped("operate"))
async def get_run(run_id: str, scoring: Scoring) -> dict[str, Any]:
    """A run's status and progress."""
    run = await scoring.scoring.GetRun(scoring_pb2.GetRunRequest(run_id=run_id))
    return run_out(run)

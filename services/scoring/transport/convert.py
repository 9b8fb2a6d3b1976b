"""Scoring's domain values ⇄ the contract's messages. Conversion only: no rules live here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from patron.scoring.v1 import models_pb2, scoring_pb2
from services.runtime.errors import InvalidArgument
from services.runtime.proto_convert import set_optional, set_time, to_date_text, to_timestamp
from services.scoring.domain.config import ScoringConfig, config_to_document
from services.scoring.domain.fitted_models import StoredModel
from services.scoring.domain.lifecycle import STAGES
from services.scoring.domain.rfm import GROUP_BY_CODE, GROUPS
from services.scoring.domain.runs import Run
from services.scoring.domain.scores import RfmSummary

MAX_CONFIG_BYTES = 64 * 1024
MAX_CONDITION_BYTES = 64 * 1024
"""The largest condition text accepted: 100 leaves of long values fit many times over."""

_FEATURE_TIMES = ("first_order_at", "last_order_at", "last_seen_at")
_OPTIONAL_FEATURES = ("mean_gap_days", "last_gap_days", "avg_unit_price_minor", "coupon_share", "active_hour")


def _features(row: Mapping[str, Any]) -> scoring_pb2.Features:
    features = scoring_pb2.Features(
        order_count=row["order_count"],
        net_spend_minor=row["net_spend_minor"],
        top_category=row["top_category"] or "",
        top_brand=row["top_brand"] or "",
        price_band=row["price_band"] or "",
    )
    for name in _FEATURE_TIMES:
        set_time(features, name, row[name])
    for name in _OPTIONAL_FEATURES:
        set_optional(features, name, row[name])
    for event_type, moment in row["last_activity"].items():
        features.last_activity[event_type].CopyFrom(to_timestamp(datetime.fromisoformat(moment)))
    for event_type, (c7, c30, c90) in row["activity_counts"].items():
        features.activity_counts[event_type].CopyFrom(
            scoring_pb2.ActivityCounts(last_7d=c7, last_30d=c30, last_90d=c90)
        )
    return features


def scores_to_proto(
    row: Mapping[str, Any], prediction: Mapping[str, Any] | None
) -> scoring_pb2.CustomerScores:
    """A customer's score row (and latest prediction) as the contract's message."""
    message = scoring_pb2.CustomerScores(
        customer_id=str(row["customer_id"]),
        as_of=to_date_text(row["as_of"]),
        lifecycle=scoring_pb2.Lifecycle(stage=row["stage"], reason=row["stage_reason"]),
        engagement=round(row["engagement"], 4),
        features=_features(row),
    )
    if row["r"] is not None:
        message.rfm.CopyFrom(
            scoring_pb2.Rfm(
                r=row["r"],
                f=row["f"],
                m=row["m"],
                group=row["rfm_group"],
                group_label=GROUP_BY_CODE[row["rfm_group"]].label,
                recency_days=row["recency_days"],
                frequency=row["frequency"],
                monetary_minor=row["monetary_minor"],
            )
        )
    if prediction is not None:
        message.predictions.CopyFrom(
            scoring_pb2.Predictions(
                as_of=to_date_text(prediction["as_of"]),
                p_alive=prediction["p_alive"],
                expected_purchases_30d=prediction["expected_purchases_30d"],
                expected_avg_spend_minor=prediction["expected_avg_spend_minor"],
                clv_minor=prediction["clv_minor"],
            )
        )
    return message


def rfm_summary_to_proto(summary: RfmSummary) -> scoring_pb2.RfmSummary:
    """The grid, every group (empty ones too, in the groups' order) and the thresholds."""
    groups = summary.groups
    message = scoring_pb2.RfmSummary(
        cells=[scoring_pb2.RfmCell(r=c.r, f=c.f, m=c.m, customers=c.customers) for c in summary.cells],
        groups=[
            scoring_pb2.RfmGroupSummary(
                group=g.code,
                label=g.label,
                customers=groups.get(g.code, (0, 0))[0],
                spend_minor=groups.get(g.code, (0, 0))[1],
            )
            for g in GROUPS
        ],
        customers_scored=sum(n for code, (n, _) in groups.items() if code is not None),
        customers_without_rfm=groups.get(None, (0, 0))[0],
    )
    baseline = summary.baseline
    if baseline is not None:
        message.thresholds.CopyFrom(
            scoring_pb2.RfmThresholds(
                as_of=to_date_text(baseline["as_of"]),
                method=baseline["method"],
                split=baseline["split"],
                recency_days=baseline["r_cuts"],
                frequency=baseline["f_cuts"],
                monetary_minor=baseline["m_cuts"],
                recency_split=baseline["r_split"],
                frequency_split=baseline["f_split"],
                monetary_split=baseline["m_split"],
            )
        )
    return message


def lifecycle_summary_to_proto(counts: Mapping[str, int]) -> scoring_pb2.LifecycleSummary:
    """Customers per stage, every stage in order (0 where nobody is)."""
    return scoring_pb2.LifecycleSummary(
        stages=[scoring_pb2.StageCount(stage=s, customers=counts.get(s, 0)) for s in STAGES]
    )


def run_to_proto(run: Run) -> scoring_pb2.Run:
    """A batch run as the contract's message (details as sorted JSON)."""
    message = scoring_pb2.Run(
        run_id=str(run.run_id),
        status=run.status,
        phase=run.phase,
        done=run.done,
        total=run.total,
        as_of=to_date_text(run.as_of),
        trigger=run.trigger,
        started_at=to_timestamp(run.started_at),
        error=run.error or "",
        details_json=json.dumps(run.details, sort_keys=True),
    )
    set_time(message, "finished_at", run.finished_at)
    return message


def config_to_proto(config: ScoringConfig) -> scoring_pb2.ConfigDocument:
    """The configuration as its JSON document (every setting, defaults included)."""
    return scoring_pb2.ConfigDocument(
        document_json=json.dumps(config_to_document(config), ensure_ascii=False)
    )


def config_document(document_json: str) -> dict[str, Any]:
    """The JSON object a PutConfig carries; a body too large or not an object is a fault of "body"."""
    if len(document_json) > MAX_CONFIG_BYTES:
        raise InvalidArgument.single("body", f"at most {MAX_CONFIG_BYTES} bytes")
    try:
        document = json.loads(document_json)
    except json.JSONDecodeError:
        raise InvalidArgument.single("body", "must be a JSON object") from None
    if not isinstance(document, dict):
        raise InvalidArgument.single("body", "must be a JSON object")
    return document


def condition_document(condition_json: str) -> Any:
    """The decoded condition a segment request carries; text too large or not JSON is a fault of
    "condition" (what it holds is judged by the domain's parser, every fault by its path)."""
    if len(condition_json) > MAX_CONDITION_BYTES:
        raise InvalidArgument.single("condition", f"at most {MAX_CONDITION_BYTES} bytes")
    try:
        return json.loads(condition_json)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidArgument.single("condition", "must be a JSON object") from None


def _diagnostics(report: Mapping[str, Any] | None) -> models_pb2.FitDiagnostics | None:
    if not report:
        return None
    return models_pb2.FitDiagnostics(
        converged=bool(report["converged"]),
        iterations=int(report["iterations"]),
        evaluations=int(report["evaluations"]),
        gradient_norm=float(report["gradient_norm"]),
        message=str(report["message"]),
    )


def model_to_proto(model: StoredModel) -> models_pb2.Model:
    """The proto form of a stored model; absent parameter groups stay unset."""
    message = models_pb2.Model(
        as_of=to_date_text(model.as_of),
        status=model.status,
        detail=model.detail,
        customers=model.customers,
        repeat_customers=model.repeat_customers,
        currency=model.currency,
        clv_horizon_months=model.clv_horizon_months,
        annual_discount_rate=model.annual_discount_rate,
        duration_ms=model.duration_ms,
        fitted_at=to_timestamp(model.fitted_at),
    )
    if model.bgnbd is not None:
        message.bgnbd.CopyFrom(models_pb2.BgNbdParameters(**model.bgnbd))
    if model.gamma_gamma is not None:
        message.gamma_gamma.CopyFrom(models_pb2.GammaGammaParameters(**model.gamma_gamma))
    if (purchases := _diagnostics(model.diagnostics.get("bgnbd"))) is not None:
        message.bgnbd_fit.CopyFrom(purchases)
    if (spending := _diagnostics(model.diagnostics.get("gamma_gamma"))) is not None:
        message.gamma_gamma_fit.CopyFrom(spending)
    return message

"""The ScoringService servicer: convert, delegate to the stores and the run executor, convert back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from patron.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from services.runtime.database import Database
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant
from services.scoring.domain.config import config_to_document, parse_config
from services.scoring.domain.lifecycle import STAGES
from services.scoring.domain.rfm import GROUP_BY_CODE, GROUPS
from services.scoring.domain.runs import Run
from services.scoring.runs import RunExecutor
from services.scoring.store.config import load_config, save_config
from services.scoring.store.reads import SqlScoreReader

SCORING_SERVICE = "patron.scoring.v1.ScoringService"
MAX_CONFIG_BYTES = 64 * 1024


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{field} {value!r} not found") from None


def _features(row: dict[str, Any]) -> scoring_pb2.Features:
    features = scoring_pb2.Features(
        order_count=row["order_count"],
        net_spend_minor=row["net_spend_minor"],
        top_category=row["top_category"] or "",
        top_brand=row["top_brand"] or "",
        price_band=row["price_band"] or "",
    )
    for name in ("first_order_at", "last_order_at", "last_seen_at"):
        if row[name] is not None:
            getattr(features, name).CopyFrom(_stamp(row[name]))
    for name in ("mean_gap_days", "last_gap_days", "avg_unit_price_minor", "coupon_share", "active_hour"):
        if row[name] is not None:
            setattr(features, name, row[name])
    for event_type, moment in row["last_activity"].items():
        features.last_activity[event_type].CopyFrom(_stamp(datetime.fromisoformat(moment)))
    for event_type, (c7, c30, c90) in row["activity_counts"].items():
        features.activity_counts[event_type].CopyFrom(
            scoring_pb2.ActivityCounts(last_7d=c7, last_30d=c30, last_90d=c90)
        )
    return features


def scores_to_proto(row: dict[str, Any], prediction: dict[str, Any] | None) -> scoring_pb2.CustomerScores:
    """A customer's score row (and latest prediction) as the contract's message."""
    message = scoring_pb2.CustomerScores(
        customer_id=str(row["customer_id"]),
        as_of=row["as_of"].isoformat(),
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
                as_of=prediction["as_of"].isoformat(),
                p_alive=prediction["p_alive"],
                expected_purchases_30d=prediction["expected_purchases_30d"],
                expected_avg_spend_minor=prediction["expected_avg_spend_minor"],
                clv_minor=prediction["clv_minor"],
            )
        )
    return message


def run_to_proto(run: Run) -> scoring_pb2.Run:
    message = scoring_pb2.Run(
        run_id=str(run.run_id),
        status=run.status,
        phase=run.phase,
        done=run.done,
        total=run.total,
        as_of=run.as_of.isoformat(),
        trigger=run.trigger,
        started_at=_stamp(run.started_at),
        error=run.error or "",
        details_json=json.dumps(run.details, sort_keys=True),
    )
    if run.finished_at is not None:
        message.finished_at.CopyFrom(_stamp(run.finished_at))
    return message


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    """Every call acts for the tenant of its metadata."""

    def __init__(self, database: Database, executor: RunExecutor) -> None:
        self._database = database
        self._reader = SqlScoreReader(database)
        self._executor = executor

    async def GetCustomerScores(
        self, request: scoring_pb2.GetCustomerScoresRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.CustomerScores:
        row, prediction = await self._reader.customer(
            current_tenant(), _uuid(request.customer_id, "customer")
        )
        return scores_to_proto(row, prediction)

    async def GetRfmSummary(
        self, request: scoring_pb2.GetRfmSummaryRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.RfmSummary:
        grid, groups, baseline = await self._reader.rfm_summary(current_tenant())
        summary = scoring_pb2.RfmSummary(
            cells=[scoring_pb2.RfmCell(r=c.r, f=c.f, m=c.m, customers=c.customers) for c in grid],
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
        if baseline is not None:
            summary.thresholds.CopyFrom(
                scoring_pb2.RfmThresholds(
                    as_of=baseline["as_of"].isoformat(),
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
        return summary

    async def GetLifecycleSummary(
        self, request: scoring_pb2.GetLifecycleSummaryRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.LifecycleSummary:
        counts = await self._reader.stage_counts(current_tenant())
        return scoring_pb2.LifecycleSummary(
            stages=[scoring_pb2.StageCount(stage=s, customers=counts.get(s, 0)) for s in STAGES]
        )

    async def GetConfig(
        self, request: scoring_pb2.GetConfigRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.ConfigDocument:
        async with self._database.read() as connection:
            config = await load_config(connection, current_tenant())
        return scoring_pb2.ConfigDocument(
            document_json=json.dumps(config_to_document(config), ensure_ascii=False)
        )

    async def PutConfig(
        self, request: scoring_pb2.PutConfigRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.ConfigDocument:
        if len(request.document_json) > MAX_CONFIG_BYTES:
            raise InvalidArgument.single("body", f"at most {MAX_CONFIG_BYTES} bytes")
        try:
            document = json.loads(request.document_json)
        except json.JSONDecodeError:
            raise InvalidArgument.single("body", "must be a JSON object") from None
        if not isinstance(document, dict):
            raise InvalidArgument.single("body", "must be a JSON object")
        config = parse_config(document)
        async with self._database.transaction() as connection:
            await save_config(connection, current_tenant(), config)
        return scoring_pb2.ConfigDocument(
            document_json=json.dumps(config_to_document(config), ensure_ascii=False)
        )

    async def StartRun(
        self, request: scoring_pb2.StartRunRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.Run:
        run = await self._executor.start(current_tenant(), request.as_of)
        assert run is not None  # only the schedule's duplicate start answers None
        return run_to_proto(run)

    async def GetRun(
        self, request: scoring_pb2.GetRunRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.Run:
        return run_to_proto(await self._executor.store.get(current_tenant(), _uuid(request.run_id, "run")))


def scoring_registration(database: Database, executor: RunExecutor) -> Registration:
    """The ScoringService for the server to serve."""
    return Registration(
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server,
        ScoringServicer(database, executor),
        SCORING_SERVICE,
    )

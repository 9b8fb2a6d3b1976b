"""The ScoringService servicer: convert, delegate to the domain's use cases, convert back."""

from __future__ import annotations

from typing import Any

from grpc import aio

from patron.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant
from services.scoring.domain.batch_runs import BatchRuns
from services.scoring.domain.config_book import ConfigBook
from services.scoring.domain.scores import ScoreQueries
from services.scoring.transport import convert

SCORING_SERVICE = "patron.scoring.v1.ScoringService"


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    """Every call acts for the tenant of its metadata."""

    def __init__(self, scores: ScoreQueries, configs: ConfigBook, runs: BatchRuns) -> None:
        self._scores = scores
        self._configs = configs
        self._runs = runs

    async def GetCustomerScores(
        self, request: scoring_pb2.GetCustomerScoresRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.CustomerScores:
        row, prediction = await self._scores.customer(current_tenant(), request.customer_id)
        return convert.scores_to_proto(row, prediction)

    async def GetRfmSummary(
        self, request: scoring_pb2.GetRfmSummaryRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.RfmSummary:
        return convert.rfm_summary_to_proto(await self._scores.rfm_summary(current_tenant()))

    async def GetLifecycleSummary(
        self, request: scoring_pb2.GetLifecycleSummaryRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.LifecycleSummary:
        return convert.lifecycle_summary_to_proto(await self._scores.stage_counts(current_tenant()))

    async def GetConfig(
        self, request: scoring_pb2.GetConfigRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.ConfigDocument:
        return convert.config_to_proto(await self._configs.get(current_tenant()))

    async def PutConfig(
        self, request: scoring_pb2.PutConfigRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.ConfigDocument:
        document = convert.config_document(request.document_json)
        return convert.config_to_proto(await self._configs.put(current_tenant(), document))

    async def StartRun(
        self, request: scoring_pb2.StartRunRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.Run:
        run = await self._runs.start(current_tenant(), request.as_of)
        assert run is not None  # only the schedule's duplicate start answers None
        return convert.run_to_proto(run)

    async def GetRun(
        self, request: scoring_pb2.GetRunRequest, context: aio.ServicerContext[Any, Any]
    ) -> scoring_pb2.Run:
        return convert.run_to_proto(await self._runs.get(current_tenant(), request.run_id))


def scoring_registration(scores: ScoreQueries, configs: ConfigBook, runs: BatchRuns) -> Registration:
    """The ScoringService for the server to serve."""
    return Registration(
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server,
        ScoringServicer(scores, configs, runs),
        SCORING_SERVICE,
    )

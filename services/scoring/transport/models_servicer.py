"""ModelService: the tenant's fitted predictive models, read back. Converts and delegates only."""

from __future__ import annotations

from datetime import date
from typing import Any

from grpc import aio

from patron.scoring.v1 import models_pb2, models_pb2_grpc
from services.runtime.database import Database
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant
from services.scoring.store.prediction_models import StoredModel, load_model

MODEL_SERVICE = "patron.scoring.v1.ModelService"


def _diagnostics(report: dict[str, Any] | None) -> models_pb2.FitDiagnostics | None:
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
        as_of=model.as_of.isoformat(),
        status=model.status,
        detail=model.detail,
        customers=model.customers,
        repeat_customers=model.repeat_customers,
        currency=model.currency,
        clv_horizon_months=model.clv_horizon_months,
        annual_discount_rate=model.annual_discount_rate,
        duration_ms=model.duration_ms,
    )
    message.fitted_at.FromDatetime(model.fitted_at)
    if model.bgnbd is not None:
        message.bgnbd.CopyFrom(models_pb2.BgNbdParameters(**model.bgnbd))
    if model.gamma_gamma is not None:
        message.gamma_gamma.CopyFrom(models_pb2.GammaGammaParameters(**model.gamma_gamma))
    if (purchases := _diagnostics(model.diagnostics.get("bgnbd"))) is not None:
        message.bgnbd_fit.CopyFrom(purchases)
    if (spending := _diagnostics(model.diagnostics.get("gamma_gamma"))) is not None:
        message.gamma_gamma_fit.CopyFrom(spending)
    return message


def _as_of(request: models_pb2.GetModelRequest) -> date | None:
    if not request.HasField("as_of"):
        return None
    try:
        return date.fromisoformat(request.as_of)
    except ValueError:
        raise InvalidArgument.single("as_of", "must be a date, YYYY-MM-DD") from None


class ModelServicer(models_pb2_grpc.ModelServiceServicer):
    """Reads ``prediction_models`` for the calling tenant."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def GetModel(
        self, request: models_pb2.GetModelRequest, context: aio.ServicerContext
    ) -> models_pb2.Model:
        as_of = _as_of(request)
        async with self._database.read() as connection:
            model = await load_model(connection, current_tenant(), as_of)
        if model is None:
            what = f"as of {as_of.isoformat()}" if as_of else "yet"
            raise NotFound(f"no predictive model has been fitted {what}")
        return model_to_proto(model)


def models_registration(database: Database) -> Registration:
    """The ModelService registration for the scoring service's server."""
    return Registration(
        models_pb2_grpc.add_ModelServiceServicer_to_server, ModelServicer(database), MODEL_SERVICE
    )

"""ModelService: the tenant's fitted predictive models, read back. Converts and delegates only."""

from __future__ import annotations

from grpc import aio

from patron.scoring.v1 import models_pb2, models_pb2_grpc
from services.runtime.proto_convert import optional_date
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant
from services.scoring.domain.fitted_models import FittedModels
from services.scoring.transport.convert import model_to_proto

MODEL_SERVICE = "patron.scoring.v1.ModelService"


class ModelServicer(models_pb2_grpc.ModelServiceServicer):
    """Reads the calling tenant's fits."""

    def __init__(self, models: FittedModels) -> None:
        self._models = models

    async def GetModel(
        self, request: models_pb2.GetModelRequest, context: aio.ServicerContext
    ) -> models_pb2.Model:
        model = await self._models.get(current_tenant(), optional_date(request, "as_of"))
        return model_to_proto(model)


def models_registration(models: FittedModels) -> Registration:
    """The ModelService registration for the scoring service's server."""
    return Registration(
        models_pb2_grpc.add_ModelServiceServicer_to_server, ModelServicer(models), MODEL_SERVICE
    )

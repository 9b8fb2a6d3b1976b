"""The tenant's fitted predictive models, as the API reads them back.

The store is a protocol so that these rules never see SQL; ``store.prediction_models`` implements it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from services.runtime.errors import NotFound


@dataclass(frozen=True, slots=True)
class StoredModel:
    """One fit as stored; parameters are None when the fit did not produce them."""

    tenant_id: uuid.UUID
    as_of: date
    status: str
    detail: str
    customers: int
    repeat_customers: int
    currency: str
    bgnbd: dict[str, float] | None  # r, alpha, a, b, log_likelihood
    gamma_gamma: dict[str, float] | None  # p, q, gamma, log_likelihood
    diagnostics: dict[str, Any]  # "bgnbd" / "gamma_gamma": the optimiser's report, or None
    clv_horizon_months: int
    annual_discount_rate: float
    duration_ms: int
    fitted_at: datetime


class ModelStore(Protocol):
    async def load(self, tenant_id: uuid.UUID, as_of: date | None) -> StoredModel | None: ...


class FittedModels:
    """Reads the tenant's fits."""

    def __init__(self, store: ModelStore) -> None:
        self._store = store

    async def get(self, tenant_id: uuid.UUID, as_of: date | None) -> StoredModel:
        """The fit as of ``as_of``, or the latest fit when None; NotFound when there is none."""
        model = await self._store.load(tenant_id, as_of)
        if model is None:
            what = f"as of {as_of.isoformat()}" if as_of else "yet"
            raise NotFound(f"no predictive model has been fitted {what}")
        return model

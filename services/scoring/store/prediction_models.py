"""Reading the tenant's fitted predictive models back (the latest one, or the one of a date)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.database import Database
from services.scoring.domain.fitted_models import StoredModel
from services.scoring.store.prediction_tables import prediction_models


def _group(row: sa.Row[Any], prefix: str, names: tuple[str, ...]) -> dict[str, float] | None:
    values = {name: getattr(row, f"{prefix}{name}") for name in names}
    return None if any(value is None for value in values.values()) else values


def _from_row(row: sa.Row[Any]) -> StoredModel:
    return StoredModel(
        tenant_id=row.tenant_id,
        as_of=row.as_of,
        status=row.status,
        detail=row.detail,
        customers=row.customers,
        repeat_customers=row.repeat_customers,
        currency=row.currency.strip(),
        bgnbd=_group(row, "bgnbd_", ("r", "alpha", "a", "b", "log_likelihood")),
        gamma_gamma=_group(row, "gg_", ("p", "q", "gamma", "log_likelihood")),
        diagnostics=dict(row.diagnostics or {}),
        clv_horizon_months=row.clv_horizon_months,
        annual_discount_rate=row.annual_discount_rate,
        duration_ms=row.duration_ms,
        fitted_at=row.fitted_at,
    )


async def load_model(
    connection: AsyncConnection, tenant_id: uuid.UUID, as_of: date | None = None
) -> StoredModel | None:
    """The tenant's fit as of ``as_of``, or its latest fit (by fitted_at) when ``as_of`` is None."""
    query = sa.select(prediction_models).where(prediction_models.c.tenant_id == tenant_id)
    if as_of is not None:
        query = query.where(prediction_models.c.as_of == as_of)
    query = query.order_by(prediction_models.c.fitted_at.desc()).limit(1)
    row = (await connection.execute(query)).first()
    return None if row is None else _from_row(row)


class SqlModelStore:
    """``prediction_models``, read for the API."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def load(self, tenant_id: uuid.UUID, as_of: date | None) -> StoredModel | None:
        """The tenant's fit as of ``as_of``, or its latest (see ``load_model``)."""
        async with self._database.read() as connection:
            return await load_model(connection, tenant_id, as_of)

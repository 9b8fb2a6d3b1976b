"""Reading scores: one customer's, the tenant's RFM grid and groups, and its lifecycle counts."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.database import Database
from services.runtime.errors import NotFound
from services.scoring.domain.scores import RfmCell, RfmSummary
from services.scoring.store.feature_tables import customer_scores
from services.scoring.store.rescoring import load_baseline
from services.scoring.store.score_sql import saturated
from services.scoring.store.tables import customers

_PREDICTION = sa.text(
    "SELECT as_of, p_alive, expected_purchases_30d, expected_avg_spend_minor, clv_minor FROM predictions "
    "WHERE tenant_id = :t AND customer_id = :c ORDER BY as_of DESC LIMIT 1"
)

_GRID = sa.text(
    "SELECT r, f, m, count(*) AS customers FROM customer_scores "
    "WHERE tenant_id = :t AND r IS NOT NULL GROUP BY r, f, m ORDER BY r, f, m"
)

_GROUPS = sa.text(
    f"SELECT rfm_group, count(*) AS customers, {saturated('coalesce(sum(monetary_minor), 0)')} AS spend "  # noqa: S608
    "FROM customer_scores WHERE tenant_id = :t GROUP BY rfm_group"
)

_STAGES = sa.text("SELECT stage, count(*) FROM customer_scores WHERE tenant_id = :t GROUP BY stage")


_PREDICTIONS_SEEN: set[str] = set()
"""The databases (by URL) where the ``predictions`` table was seen: a table that exists stays."""


async def _has_predictions(connection: AsyncConnection) -> bool:
    """Whether the database has S2's ``predictions`` table; asked until it is first seen."""
    key = connection.engine.url.render_as_string(hide_password=True)
    if key in _PREDICTIONS_SEEN:
        return True
    found = bool(
        (await connection.execute(sa.text("SELECT to_regclass('predictions') IS NOT NULL"))).scalar_one()
    )
    if found:
        _PREDICTIONS_SEEN.add(key)
    return found


async def live_customer(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> uuid.UUID:
    """The customer an id names now: itself, or the survivor it was merged into (as the scores read
    does); NotFound when scoring does not know it in this tenant or it was erased."""
    live = (
        await connection.execute(
            sa.select(sa.func.coalesce(customers.c.merged_into, customers.c.customer_id)).where(
                customers.c.tenant_id == tenant_id,
                customers.c.customer_id == customer_id,
                customers.c.erased_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    if live is None:
        raise NotFound(f"customer {customer_id} not found")
    return uuid.UUID(str(live))


async def scores_of(
    connection: AsyncConnection, tenant_id: uuid.UUID, live: uuid.UUID
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """The live customer's score row and latest prediction; None when it has no scores yet."""
    row = (
        await connection.execute(
            sa.select(customer_scores).where(
                customer_scores.c.tenant_id == tenant_id, customer_scores.c.customer_id == live
            )
        )
    ).first()
    if row is None:
        return None
    prediction = None
    if await _has_predictions(connection):
        found = (await connection.execute(_PREDICTION, {"t": tenant_id, "c": live})).first()
        prediction = None if found is None else dict(found._mapping)
    return dict(row._mapping), prediction


class SqlScoreReader:
    """Read-only queries over ``customer_scores`` (and S2's ``predictions``)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def customer(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The customer's (or its survivor's) score row and latest prediction; NotFound when scoring
        does not know the customer in this tenant."""
        async with self._database.read() as connection:
            live = await live_customer(connection, tenant_id, customer_id)
            found = await scores_of(connection, tenant_id, live)
        if found is None:
            raise NotFound(f"customer {customer_id} has no scores yet")
        return found

    async def rfm_summary(self, tenant_id: uuid.UUID) -> RfmSummary:
        """The occupied grid cells, each group's (customers, spend) and the stored thresholds."""
        async with self._database.read() as connection:
            grid = [
                RfmCell(r=r, f=f, m=m, customers=int(n))
                for r, f, m, n in await connection.execute(_GRID, {"t": tenant_id})
            ]
            groups = {
                row.rfm_group: (int(row.customers), int(row.spend))
                for row in await connection.execute(_GROUPS, {"t": tenant_id})
            }
            baseline = await load_baseline(connection, tenant_id)
        return RfmSummary(cells=grid, groups=groups, baseline=baseline)

    async def stage_counts(self, tenant_id: uuid.UUID) -> dict[str, int]:
        """Customers per lifecycle stage."""
        async with self._database.read() as connection:
            return {stage: int(n) for stage, n in await connection.execute(_STAGES, {"t": tenant_id})}

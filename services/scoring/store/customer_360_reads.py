"""Scoring's customer-360 part: the customer resolved, its scores, latest prediction and live
segments, in one statement on the hot pool.

Read step by step (the customer resolved, then scores, prediction and segments) the part was five
round trips through SQLAlchemy, and the round trips, not PostgreSQL's work, were most of its CPU.
One statement is one snapshot and one round trip. The step-by-step reads remain for a hot pool
that is closing (the service is stopping).
"""

from __future__ import annotations

import uuid
from typing import Any

from services.runtime.database import Database
from services.runtime.errors import NotFound
from services.runtime.hot_pool import HotConnections, HotPathClosed
from services.scoring.domain.customer_360 import ScoringPart
from services.scoring.domain.segments.saved_rules import CustomerSegment
from services.scoring.store.feature_tables import customer_scores
from services.scoring.store.reads import live_customer, scores_of
from services.scoring.store.saved_segment_reads import segments_of

_SCORE_COLUMNS = tuple(column.name for column in customer_scores.c)
_PREDICTION_COLUMNS = ("as_of", "p_alive", "expected_purchases_30d", "expected_avg_spend_minor", "clv_minor")

# $1 tenant, $2 customer. A customer scoring does not know (or erased) answers no row.
_PART_AT_ONCE = f"""
    SELECT l.live, s.customer_id IS NOT NULL AS scored,
           {", ".join(f"s.{name} AS s_{name}" for name in _SCORE_COLUMNS)},
           p.as_of IS NOT NULL AS predicted,
           {", ".join(f"p.{name} AS p_{name}" for name in _PREDICTION_COLUMNS)},
           ARRAY(
               SELECT ROW(g.segment_id, g.name, m.entered_at)
               FROM segment_members AS m
               JOIN segments AS g ON g.tenant_id = m.tenant_id AND g.segment_id = m.segment_id
               WHERE m.tenant_id = $1 AND m.customer_id = l.live AND g.deleted_at IS NULL
               ORDER BY g.name, g.segment_id
           ) AS segments
    FROM (
        SELECT coalesce(merged_into, customer_id) AS live FROM customers
        WHERE tenant_id = $1 AND customer_id = $2 AND erased_at IS NULL
    ) AS l
    LEFT JOIN customer_scores AS s ON s.tenant_id = $1 AND s.customer_id = l.live
    LEFT JOIN LATERAL (
        SELECT {", ".join(_PREDICTION_COLUMNS)} FROM predictions
        WHERE tenant_id = $1 AND customer_id = l.live ORDER BY as_of DESC LIMIT 1
    ) AS p ON true
"""  # noqa: S608 - the column names come from the table definitions


def _scores(row: Any) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """As ``scores_of`` answers: the score row and latest prediction, None when not scored yet."""
    if not row["scored"]:
        return None
    prediction = {name: row[f"p_{name}"] for name in _PREDICTION_COLUMNS} if row["predicted"] else None
    return {name: row[f"s_{name}"] for name in _SCORE_COLUMNS}, prediction


class SqlCustomer360Reader:
    """Implements ``Customer360Reader`` on the scoring database."""

    def __init__(self, database: Database, hot: HotConnections) -> None:
        self._database = database
        self._hot = hot

    async def part(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> ScoringPart:
        try:
            row = await self._hot.fetchrow(_PART_AT_ONCE, tenant_id, customer_id)
        except HotPathClosed:
            return await self._part_step_by_step(tenant_id, customer_id)
        if row is None:
            raise NotFound(f"customer {customer_id} not found")
        segments = [CustomerSegment(*fields) for fields in row["segments"]]
        return ScoringPart(_scores(row), segments)

    async def _part_step_by_step(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> ScoringPart:
        async with self._database.read() as connection:
            live = await live_customer(connection, tenant_id, customer_id)
            scores = await scores_of(connection, tenant_id, live)
            segments = await segments_of(connection, tenant_id, live)
        return ScoringPart(scores, segments)

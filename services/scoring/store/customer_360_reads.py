"""Scoring's customer-360 part in one read: the customer resolved once, then its scores, latest
prediction and live segments in the same snapshot, on one connection."""

from __future__ import annotations

import uuid

from services.runtime.database import Database
from services.scoring.domain.customer_360 import ScoringPart
from services.scoring.store.reads import live_customer, scores_of
from services.scoring.store.saved_segment_reads import segments_of


class SqlCustomer360Reader:
    """Implements ``Customer360Reader`` on the scoring database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def part(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> ScoringPart:
        async with self._database.read() as connection:
            live = await live_customer(connection, tenant_id, customer_id)
            scores = await scores_of(connection, tenant_id, live)
            segments = await segments_of(connection, tenant_id, live)
        return ScoringPart(scores, segments)

"""The store side of a batch run's phases: the set-based recompute and the predictive fit.

``SqlRunPhases`` gives ``domain.batch_runs`` what it drives: a ``BatchSession`` on a connection of
its own whose final write publishes to the outbox, and the fit of the predictions in a transaction
of its own (``store.predictions``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.scoring.store.batch import BatchSession
from services.scoring.store.config import load_config
from services.scoring.store.predictions import PredictionOutcome, fit_and_score
from services.scoring.store.segment_membership import reevaluate_tenant


class PublishingRecompute:
    """A run's ``BatchSession`` whose final write announces the stage changes on ``outbox``."""

    def __init__(self, batch: BatchSession, outbox: Outbox) -> None:
        self._batch = batch
        self._outbox = outbox

    async def snapshot_features(self, daily: bool) -> int:
        """Fix the snapshot and build the features (``daily``: from the stored scores where they can
        be trusted); customers count."""
        return await self._batch.snapshot_features(daily)

    @property
    def features_mode(self) -> str:
        """ "full" or "daily": how this run's features were built."""
        return self._batch.features_mode

    async def baselines(self) -> dict[str, Any] | None:
        """The tenant's new RFM and price thresholds."""
        return await self._batch.baselines()

    async def score(self) -> None:
        """Score every customer."""
        await self._batch.score()

    async def publish(self) -> int:
        """Write the scores, baselines and stage change events in one transaction; changes count."""
        return await self._batch.write(self._outbox)

    async def summarise(self) -> dict[str, Any]:
        """A backdated run's snapshot of its figures (nothing live is written)."""
        return await self._batch.summarise()


class SqlRunPhases:
    """The phases a run drives, on the scoring database."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    @asynccontextmanager
    async def recompute(self, tenant_id: uuid.UUID, as_of: date) -> AsyncIterator[PublishingRecompute]:
        """A recompute session of its own; its working tables go with it."""
        async with BatchSession.open(self._database, tenant_id, as_of) as batch:
            yield PublishingRecompute(batch, self._outbox)

    async def fit_predictions(
        self, tenant_id: uuid.UUID, as_of: date, *, snapshot: bool
    ) -> PredictionOutcome:
        """Fit the models under the tenant's configuration and replace its predictions (a snapshot's
        fit replaces them only when no later fit exists)."""
        async with self._database.transaction() as connection:
            config = await load_config(connection, tenant_id)
            return await fit_and_score(connection, tenant_id, as_of, config, keep_later_fit=snapshot)

    async def move_segments(self, tenant_id: uuid.UUID) -> int:
        """Re-evaluate every saved segment of the tenant after a run, announcing each change."""
        async with self._database.transaction() as connection:
            return await reevaluate_tenant(connection, self._outbox, tenant_id, datetime.now(UTC), "run")

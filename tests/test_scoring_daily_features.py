"""Property: the daily run's features (stored day-independent columns + the recent facts) equal a full
recomputation from the facts, today and on the next day, whatever happened since the last full run.

Histories come from ``test_scoring_rebuild_property``: a first part of orders, refunds, behaviour and
merges goes through the consumer, a full run publishes (which records the features key), a second
part goes through the consumer, and then runs of both kinds are compared on today and tomorrow. One
customer's stored row is sometimes dropped first: the daily run computes it from the facts by id.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from services.scoring.store.batch import BatchSession
from tests.test_scoring_rebuild_property import (
    _REBUILT,
    CUSTOMERS,
    _events,
    _normal,
    operation,
    provision,
    rescored,
)


async def _apply(
    database: Database, spec: Any, envelopes: list[Any], outbox: Outbox, tenant: uuid.UUID
) -> None:
    """The events as the consumer applies them, then the re-scorer's rounds (a caught-up scoring)."""
    for envelope in envelopes:
        async with database.transaction() as connection:
            await spec.handlers[envelope.type](connection, envelope)
    await rescored(database, outbox, tenant)


async def _rebuild(
    database: Database, tenant: uuid.UUID, as_of: date, daily: bool
) -> tuple[str, dict[str, Any]]:
    async with BatchSession.open(database, tenant, as_of) as batch:
        await batch.snapshot_features(daily=daily)
        await batch.baselines()
        await batch.score()
        rows = list((await batch.connection.execute(sa.text(_REBUILT))).all())
        return batch.features_mode, _normal(rows)


async def _example(database: Database, first: list[Any], second: list[Any], drop_row: int | None) -> None:
    tenant, customers, outbox, spec = await provision(database)
    envelopes = _events(tenant, customers, first + second)
    split = len(_events(tenant, customers, first))  # the same steps give the same number of events
    await _apply(database, spec, envelopes[:split], outbox, tenant)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    async with BatchSession.open(database, tenant, today) as batch:  # a full run that publishes
        await batch.snapshot_features(daily=True)
        assert batch.features_mode == "full"  # no key recorded yet
        await batch.baselines()
        await batch.score()
        await batch.write(outbox)
        # the key is kept with the baselines, which exist once someone has a counted order
        keyed = batch.baseline is not None
    await _apply(database, spec, envelopes[split:], outbox, tenant)
    if drop_row is not None:
        async with database.transaction() as connection:
            await connection.execute(
                sa.text("DELETE FROM customer_scores WHERE tenant_id = :t AND customer_id = :c"),
                {"t": tenant, "c": customers[drop_row]},
            )
    for as_of in (today, today + timedelta(days=1)):
        full_mode, full = await _rebuild(database, tenant, as_of, daily=False)
        daily_mode, daily = await _rebuild(database, tenant, as_of, daily=True)
        assert (full_mode, daily_mode) == ("full", "daily" if keyed else "full")
        assert daily == full, as_of


async def test_daily_features_equal_a_full_recomputation(database_urls: dict[str, str]) -> None:
    database = Database(create_engine(database_urls["scoring"], application_name="scoring-daily-property"))
    loop = asyncio.get_running_loop()

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        first=st.lists(operation, min_size=1, max_size=8),
        second=st.lists(operation, max_size=8),
        drop_row=st.none() | st.integers(0, CUSTOMERS - 1),
    )
    def check(first: list[Any], second: list[Any], drop_row: int | None) -> None:
        asyncio.run_coroutine_threadsafe(_example(database, first, second, drop_row), loop).result()

    try:
        await asyncio.to_thread(check)
    finally:
        await database.dispose()

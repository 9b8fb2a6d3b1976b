"""The consumer's re-scoring grows with the batch, not with its square.

Its statement runs on a generic plan, which cannot know how many customer ids the array holds and
takes it for one. With nested loops allowed, that plan re-ran each per-customer aggregate (the
behaviour counts, the hours) over the whole batch once per customer of the batch: 1,000 customers
took about 300 ms under ingest and scoring fell minutes behind (docs/performance.md). Here a batch
of 3,000 customers with behaviour history is re-scored twice on a warm connection: the quadratic
plan took about 5 s each time, the linear one about 0.25 s.
"""

from __future__ import annotations

import time
import uuid

import sqlalchemy as sa

from services.runtime.database import Database, create_engine
from services.scoring.store.rescoring import rescore
from tests.test_scoring_rebuild_property import provision

BATCH = 3_000

_CUSTOMERS = sa.text(
    "INSERT INTO customers (tenant_id, customer_id, created_at) "
    "SELECT :t, gen_random_uuid(), now() - interval '30 days' FROM generate_series(1, :n)"
)
_DAILY = sa.text(
    "INSERT INTO activity_daily (tenant_id, customer_id, event_type, day, events, last_at) "
    "SELECT :t, c.customer_id, k.kind, current_date - d.day, 2, now() - make_interval(days => d.day) "
    "FROM customers AS c, unnest(ARRAY['view', 'favorite']) AS k(kind), generate_series(0, 2) AS d(day) "
    "WHERE c.tenant_id = :t"
)
_HOURS = sa.text(
    "INSERT INTO activity_hours (tenant_id, customer_id, hour, events) "
    "SELECT :t, c.customer_id, h.hour, 3 FROM customers AS c, generate_series(8, 10) AS h(hour) "
    "WHERE c.tenant_id = :t"
)


async def test_rescoring_a_large_batch_is_linear(database_urls: dict[str, str]) -> None:
    database = Database(
        create_engine(database_urls["scoring"], application_name="rescore-scale", pool_size=1)
    )
    try:
        tenant, _customers, outbox, _spec = await provision(database)
        async with database.transaction() as connection:
            for statement in (_CUSTOMERS, _DAILY, _HOURS):
                await connection.execute(statement, {"t": tenant, "n": BATCH})
            ids = list(
                (
                    await connection.execute(
                        sa.text("SELECT customer_id FROM customers WHERE tenant_id = :t"), {"t": tenant}
                    )
                ).scalars()
            )
        assert len(ids) == BATCH
        async with database.transaction() as connection:  # plans the statement on the connection
            await rescore(connection, outbox, tenant, ids[:10])
        seconds = []
        for _ in range(2):
            async with database.transaction() as connection:
                started = time.perf_counter()
                await rescore(connection, outbox, tenant, ids)
                seconds.append(time.perf_counter() - started)
        async with database.read() as connection:
            scored = (
                await connection.execute(
                    sa.text(
                        "SELECT count(*) FROM customer_scores WHERE tenant_id = :t "
                        "AND activity_counts ? 'view' AND active_hour = 8"
                    ),
                    {"t": tenant},
                )
            ).scalar_one()
        assert scored == BATCH
        assert min(seconds) < 2.0, seconds
    finally:
        await database.dispose()


async def test_rescoring_puts_the_plan_settings_back(database_urls: dict[str, str]) -> None:
    """The statement's planner settings are its own: the transaction's are as before after it."""
    database = Database(create_engine(database_urls["scoring"], application_name="rescore-settings"))
    try:
        tenant, _customers, outbox, _spec = await provision(database)
        async with database.transaction() as connection:
            await connection.execute(sa.text("SET LOCAL enable_nestloop = on"))
            await rescore(connection, outbox, tenant, [uuid.uuid4()])
            settings = (
                await connection.execute(
                    sa.text("SELECT current_setting('enable_nestloop'), current_setting('plan_cache_mode')")
                )
            ).one()
        assert tuple(settings) == ("on", "auto")
    finally:
        await database.dispose()

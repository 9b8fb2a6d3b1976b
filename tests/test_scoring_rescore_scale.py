"""The consumer's re-scoring grows with the batch, not with its square, and runs once per run of sign-ups.

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
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from patron.events.v1 import envelope_pb2
from services.runtime.database import Database, create_engine
from services.scoring.store.rescoring import RESCORE, rescore, rescore_parameters, tenant_context
from tests.support import PostgresServer, service_database
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


def _created(tenant: uuid.UUID, customer: uuid.UUID, *, with_attributes: bool) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()), tenant_id=str(tenant), customer_id=str(customer), type="customer.created"
    )
    at = datetime.now(UTC) - timedelta(days=3)
    envelope.occurred_at.FromDatetime(at)
    envelope.customer_created.created_at.FromDatetime(at)
    envelope.customer_created.registration_channel = "mini_program"
    if with_attributes:
        envelope.customer_created.attributes.city = "Hangzhou"
        envelope.customer_created.attributes.registration_channel = "mini_program"
    return envelope


async def test_a_run_of_sign_ups_with_and_without_attributes_is_applied_together(
    database_urls: dict[str, str],
) -> None:
    """Customers created by event and order batches announce no attributes; a run of them is one
    upsert and one re-scoring like any other, with the rows that event-by-event handling gives."""
    database = Database(create_engine(database_urls["scoring"], application_name="created-many"))
    try:
        rows = {}
        for together in (True, False):
            tenant, _customers, _outbox, spec = await provision(database)
            envelopes = [_created(tenant, uuid.uuid4(), with_attributes=n % 2 == 0) for n in range(6)]
            if together:
                async with database.transaction() as connection:
                    await spec.batch_handlers["customer.created"](connection, envelopes)
            else:
                for envelope in envelopes:
                    async with database.transaction() as connection:
                        await spec.handlers["customer.created"](connection, envelope)
            async with database.read() as connection:
                found = (
                    await connection.execute(
                        sa.text(
                            "SELECT c.registration_channel, c.city, s.stage FROM customers AS c "
                            "JOIN customer_scores AS s USING (tenant_id, customer_id) "
                            "WHERE c.tenant_id = :t ORDER BY c.created_at, c.city NULLS FIRST"
                        ),
                        {"t": tenant},
                    )
                ).all()
            rows[together] = sorted((tuple(r) for r in found), key=repr)
        assert rows[True] == rows[False]
        assert rows[True].count(("mini_program", "Hangzhou", "acquisition")) == 3
        assert rows[True].count(("mini_program", None, "acquisition")) == 3
    finally:
        await database.dispose()


async def test_a_sign_up_completes_a_provisional_row_and_leaves_a_merged_away_one_bare(
    database_urls: dict[str, str],
) -> None:
    """A customer.created may find its row already there: provisional (its events came first) or
    merged away (the merge came first, on the survivor's partition). The upsert sets the creation
    time and every attribute, of every column type, on the first; the second keeps its merge and no
    attributes. Both count the event."""
    database = Database(create_engine(database_urls["scoring"], application_name="created-upsert"))
    try:
        tenant, _customers, _outbox, spec = await provision(database)
        provisional, merged, survivor = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        async with database.transaction() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO customers (tenant_id, customer_id, created_at, merged_into, events_applied) "
                    "VALUES (:t, :p, now(), NULL, 2), (:t, :m, now(), :s, 0)"
                ),
                {"t": tenant, "p": provisional, "m": merged, "s": survivor},
            )
        envelopes = [_created(tenant, customer, with_attributes=True) for customer in (provisional, merged)]
        registered = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
        for envelope in envelopes:
            attributes = envelope.customer_created.attributes
            attributes.gender, attributes.timezone, attributes.birthday = "female", "Asia/Tokyo", "1990-05-17"
            attributes.registered_at.FromDatetime(registered)
        async with database.transaction() as connection:
            await spec.batch_handlers["customer.created"](connection, envelopes)
        async with database.read() as connection:
            rows = {
                row.customer_id: row
                for row in await connection.execute(
                    sa.text(
                        "SELECT customer_id, created_at, city, gender, timezone, birthday, registered_at, "
                        "registration_channel, merged_into, events_applied FROM customers "
                        "WHERE tenant_id = :t"
                    ),
                    {"t": tenant},
                )
            }
        created_at = envelopes[0].customer_created.created_at.ToDatetime(tzinfo=UTC)
        first = rows[provisional]
        assert (first.created_at, first.city, first.gender, first.timezone) == (
            created_at,
            "Hangzhou",
            "female",
            "Asia/Tokyo",
        )
        assert (first.birthday.isoformat(), first.registered_at, first.events_applied) == (
            "1990-05-17",
            registered,
            3,
        )
        second = rows[merged]
        assert (second.merged_into, second.events_applied) == (survivor, 1)
        assert (second.city, second.gender, second.birthday, second.registration_channel) == (None,) * 4
    finally:
        await database.dispose()


def _scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(relation, index condition) of every scan of a relation in an EXPLAIN (FORMAT JSON) plan (a
    bitmap heap scan's is its recheck condition)."""
    found = []
    if "Relation Name" in plan and plan["Node Type"].endswith("Scan"):
        found.append((plan["Relation Name"], plan.get("Index Cond") or plan.get("Recheck Cond", "")))
    for child in plan.get("Plans", []):
        found.extend(_scans(child))
    return found


@pytest.fixture
async def own_scoring_db(postgres: PostgresServer) -> AsyncIterator[str]:
    """A scoring database of this test's own: the plan must not depend on which rows (and which
    statistics) earlier tests left in the session's tables. On the session's database, a few orders
    analysed by autovacuum once made the orders probe a sequential scan of a tiny table."""
    async with service_database(postgres, "scoring", "rescore_plan") as url:
        yield url


async def test_the_rescoring_plan_probes_each_customer(own_scoring_db: str) -> None:
    """Every per-customer table is read by ``(tenant_id, customer_id)`` on the consumer's generic plan.

    With ``customer_id = ANY(:ids)`` the planner may take only ``tenant_id`` as the index condition
    and test each row of the tenant against the whole array, and it did for a tenant of 1,000
    customers: 9 ms of a 22 ms re-scoring of 400 of them went to reading all 4,000 behaviour rows.
    """
    database = Database(create_engine(own_scoring_db, application_name="rescore-plan", pool_size=1))
    try:
        tenant, _customers, _outbox, _spec = await provision(database)
        async with database.transaction() as connection:
            for statement in (_CUSTOMERS, _DAILY, _HOURS):
                await connection.execute(statement, {"t": tenant, "n": 1_000})
            await connection.execute(sa.text("ANALYZE customers, activity_daily, activity_hours"))
            ids = list(
                (
                    await connection.execute(
                        sa.text("SELECT customer_id FROM customers WHERE tenant_id = :t LIMIT 400"),
                        {"t": tenant},
                    )
                ).scalars()
            )
        async with database.transaction() as connection:
            await connection.execute(sa.text("SET LOCAL plan_cache_mode = force_generic_plan"))
            await connection.execute(sa.text("SET LOCAL enable_nestloop = off"))
            parameters = rescore_parameters(await tenant_context(connection, tenant), ids)
            explained = sa.text("EXPLAIN (FORMAT JSON) " + str(RESCORE.text))
            plan = (await connection.execute(explained, parameters)).scalar_one()
        scans = _scans(plan[0]["Plan"])
        probed = ("customers", "orders", "activity_daily", "activity_hours", "customer_scores")
        assert {table for table, _ in scans} >= set(probed)
        for table, condition in scans:
            if table in probed:
                assert "customer_id" in condition, (table, condition)
    finally:
        await database.dispose()

"""Scoring runs under limits: statement settings that stay in the run's transactions, a generic error
for the tenant. Each test works on databases of this module's own (``migrated_databases``), so its
runs and its sabotage never meet the session's services."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from services.runtime.server import ServiceServer
from services.scoring.domain.batch_runs import BatchRuns
from services.scoring.domain.runs import RunAlreadyRunning, is_due, schedule_minute
from services.scoring.store.batch import BatchSession
from services.scoring.store.feature_tables import outbox as outbox_table
from services.scoring.store.rescoring import lock_key
from services.scoring.store.run_phases import SqlRunPhases
from services.scoring.store.runs import SqlRunStore
from services.scoring.store.tables import tenants
from services.scoring.store.tagging import SqlTagSync
from services.scoring.store.tenant_settings import SqlTenantSettings
from tests.conftest import TenantKey, gateway_client, gateway_settings
from tests.support import PostgresServer, migrated_databases, start_service

SCORING_SOURCES = Path(__file__).resolve().parents[1] / "services" / "scoring"


@pytest.fixture(scope="module")
async def scoring_url(postgres: PostgresServer) -> AsyncIterator[str]:
    async with migrated_databases(postgres) as urls:
        yield urls["scoring"]


@pytest.fixture
async def one_connection(scoring_url: str) -> AsyncIterator[Database]:
    """A database whose pool holds exactly one connection: what a run leaves on it, the next
    checkout sees."""
    database = Database(create_engine(scoring_url, application_name="runs-test", pool_size=1, max_overflow=0))
    yield database
    await database.dispose()


async def provision(database: Database) -> uuid.UUID:
    tenant_id = uuid.uuid4()
    async with database.transaction() as connection:
        await connection.execute(
            sa.insert(tenants).values(
                tenant_id=tenant_id,
                name="Runs",
                timezone="Asia/Shanghai",
                currency="CNY",
                default_region="CN",
            )
        )
    return tenant_id


async def session_settings(database: Database) -> tuple[str, str, str]:
    async with database.engine.connect() as connection:
        values = []
        for name in ("statement_timeout", "work_mem", "jit"):
            values.append((await connection.execute(sa.text(f"SHOW {name}"))).scalar_one())
        await connection.rollback()
    return values[0], values[1], values[2]


def test_no_plain_set_in_scoring_sql() -> None:
    """Every statement setting of scoring is SET LOCAL (or set_config(..., true)): a plain SET would
    stay on the pooled connection after the run."""
    plain = re.compile(r"""["']\s*SET\s+(?!LOCAL\b|TRANSACTION\b)""")
    offenders = [
        f"{path.relative_to(SCORING_SOURCES)}:{number}"
        for path in SCORING_SOURCES.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if plain.search(line)
    ]
    assert offenders == []


async def test_a_run_leaves_its_pooled_connection_with_the_service_statement_timeout(
    one_connection: Database,
) -> None:
    database = one_connection
    before = await session_settings(database)
    assert before[0] == "10s"
    tenant_id = await provision(database)
    outbox = Outbox("scoring", outbox_table, 1)
    async with BatchSession.open(database, tenant_id, datetime.now(UTC).date()) as batch:
        await batch.snapshot_features()
        await batch.baselines()
        await batch.score()
        await batch.write(outbox)
    async with SqlTagSync(database).session(tenant_id):
        pass
    assert await session_settings(database) == before


async def test_a_failed_run_tells_the_tenant_a_reference_and_logs_the_detail(
    one_connection: Database, scoring_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(create_engine(scoring_url, application_name="runs-test", pool_size=3))
    tenant_id = await provision(database)
    store = SqlRunStore(database)
    runs = BatchRuns(
        store, SqlTenantSettings(database), SqlRunPhases(database, Outbox("scoring", outbox_table, 1)), None
    )
    async with database.transaction() as connection:
        await connection.execute(sa.text("ALTER TABLE order_items RENAME TO order_items_hidden"))
    try:
        with caplog.at_level(logging.ERROR, logger="services.scoring.domain.batch_runs"):
            run = await runs.start(tenant_id, "")
            assert run is not None
            await runs.wait_idle()
    finally:
        async with database.transaction() as connection:
            await connection.execute(sa.text("ALTER TABLE order_items_hidden RENAME TO order_items"))
        await database.dispose()
    failed = await SqlRunStore(one_connection).get(tenant_id, run.run_id)
    assert failed.status == "failed"
    assert failed.error is not None
    found = re.fullmatch(
        r"the scoring run failed; see the operator logs, reference ([0-9a-f]{12})", failed.error
    )
    assert found, failed.error
    assert "order_items" not in failed.error
    logged = [r for r in caplog.records if found.group(1) in r.getMessage()]
    assert logged
    assert "order_items" in (logged[0].exc_text or "")


async def settle(database: Database) -> None:
    """End what earlier tests of this module left queued or running: the bound counts every tenant."""
    async with database.transaction() as connection:
        await connection.execute(
            sa.text("UPDATE scoring_runs SET status = 'failed' WHERE status IN ('queued', 'running')")
        )


def replica(database: Database, max_running: int) -> BatchRuns:
    """One scoring replica's runs (no tag sync: no profile here)."""
    outbox = Outbox("scoring", outbox_table, 1)
    return BatchRuns(
        SqlRunStore(database, max_running), SqlTenantSettings(database), SqlRunPhases(database, outbox), None
    )


async def status_of(database: Database, tenant_id: uuid.UUID, run_id: uuid.UUID) -> str:
    return (await SqlRunStore(database).get(tenant_id, run_id)).status


async def test_runs_beyond_the_global_bound_wait_queued_and_start_in_order_across_replicas(
    scoring_url: str,
) -> None:
    database = Database(create_engine(scoring_url, application_name="runs-test", pool_size=6))
    await settle(database)
    first, second = replica(database, 1), replica(database, 1)
    a, b, c = [await provision(database) for _ in range(3)]
    try:
        # Hold tenant a's lock: its run stays running (in its snapshot) while b and c are requested.
        async with database.engine.connect() as holder:
            await holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(a)})
            await holder.commit()
            run_a = await first.start(a, "")
            assert run_a is not None
            assert run_a.status == "running"
            run_b = await second.start(b, "")
            run_c = await first.start(c, "")
            assert run_b is not None
            assert run_c is not None
            assert (run_b.status, run_c.status) == ("queued", "queued")
            assert await status_of(database, c, run_c.run_id) == "queued"
            with pytest.raises(RunAlreadyRunning):
                await second.start(b, "")
            assert await second.dispatch() == []
            await holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(a)})
            await holder.commit()
        for _ in range(300):
            await first.wait_idle()
            await second.wait_idle()
            statuses = [
                await status_of(database, t, r.run_id) for t, r in ((a, run_a), (b, run_b), (c, run_c))
            ]
            if all(s not in ("queued", "running") for s in statuses):
                break
            await first.dispatch()
            await second.dispatch()
            await asyncio.sleep(0.05)
        store = SqlRunStore(database)
        done = [await store.get(t, r.run_id) for t, r in ((a, run_a), (b, run_b), (c, run_c))]
        assert [run.status for run in done] == ["succeeded"] * 3
        # One at a time, first come first served: each started after the one before it finished.
        for earlier, later in itertools.pairwise(done):
            assert earlier.finished_at is not None
            assert later.started_at >= earlier.finished_at
    finally:
        await first.stop()
        await second.stop()
        await database.dispose()


async def test_a_manual_run_inside_the_cooldown_answers_429_with_retry_after(
    services: dict[str, ServiceServer], database_urls: dict[str, str], tenant: TenantKey
) -> None:
    """Through the real gateway, on a second scoring replica whose cooldown is 10 minutes."""
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    scoring = await start_service(
        "scoring",
        database_urls["scoring"],
        consumer_lease_seconds=1.0,
        run_cooldown_seconds=600,
        db_pool_size=3,  # a small replica beside the session's services, within the server's connections
        **{f"{name}_address": address for name, address in addresses.items() if name != "scoring"},
    )
    try:
        addresses["scoring"] = f"127.0.0.1:{scoring.bound_port}"
        async with gateway_client(gateway_settings(addresses)) as api:
            started = await api.post("/v1/scoring/runs", json={}, headers=tenant.headers)
            assert started.status_code == 202, started.text
            assert started.json()["status"] in ("queued", "running")
            run_id = started.json()["run_id"]
            for _ in range(600):
                state = (await api.get(f"/v1/scoring/runs/{run_id}", headers=tenant.headers)).json()
                if state["status"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.05)
            assert state["status"] == "succeeded", state
            again = await api.post("/v1/scoring/runs", json={}, headers=tenant.headers)
            assert again.status_code == 429, again.text
            assert again.headers["content-type"].startswith("application/problem+json")
            assert 0 < int(again.headers["Retry-After"]) <= 600
            backdated = await api.post(
                "/v1/scoring/runs", json={"as_of": "2020-01-01"}, headers=tenant.headers
            )
            assert backdated.status_code == 429, "a snapshot run is a manual run too"
    finally:
        await scoring.stop(grace=1)


async def test_the_cooldown_leaves_scheduled_runs_alone(scoring_url: str) -> None:
    database = Database(create_engine(scoring_url, application_name="runs-test", pool_size=2))
    try:
        tenant_id = await provision(database)
        store = SqlRunStore(database, 2, cooldown_seconds=600)
        today = datetime.now(UTC).date()
        manual = await store.start(tenant_id, today, "api")
        assert manual is not None
        assert manual.run_id in [run.run_id for run in await store.claim()]
        await store.finish(manual.run_id, None)
        scheduled = await store.start(tenant_id, today, "schedule")
        assert scheduled is not None
        assert scheduled.status == "queued"
    finally:
        await database.dispose()


async def test_a_run_works_on_the_runs_own_pool(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    """While a run waits on its tenant's lock, the waiting backend is one of the runs' pool
    (``patron-scoring-runs``), not of the pool that serves the API."""
    database = services["scoring"].database
    key = lock_key(uuid.UUID(tenant.tenant_id))
    async with database.engine.connect() as holder:
        await holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        await holder.commit()
        started = await api.post("/v1/scoring/runs", json={}, headers=tenant.headers)
        assert started.status_code == 202, started.text
        waiting: list[str] = []
        for _ in range(100):
            waiting = list(
                (
                    await holder.execute(
                        sa.text(
                            "SELECT application_name FROM pg_stat_activity "
                            "WHERE datname = current_database() AND wait_event = 'advisory'"
                        )
                    )
                ).scalars()
            )
            await holder.commit()
            if waiting:
                break
            await asyncio.sleep(0.05)
        await holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        await holder.commit()
    assert waiting == ["patron-scoring-runs"]
    run_id = started.json()["run_id"]
    for _ in range(600):
        state = (await api.get(f"/v1/scoring/runs/{run_id}", headers=tenant.headers)).json()
        if state["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.05)
    assert state["status"] == "succeeded", state


def test_scheduled_starts_spread_over_the_hour_by_a_stable_minute_per_tenant() -> None:
    tenants_ = [uuid.uuid4() for _ in range(600)]
    minutes = [schedule_minute(tenant_id) for tenant_id in tenants_]
    assert all(0 <= minute < 60 for minute in minutes)
    assert len(set(minutes)) == 60
    assert max(minutes.count(m) for m in range(60)) < 30  # about 10 each, never a crowd at :00
    fixed = uuid.UUID("00000000-0000-0000-0000-000000000001")
    assert schedule_minute(fixed) == schedule_minute(uuid.UUID(str(fixed)))
    zone = ZoneInfo("Asia/Shanghai")
    created = datetime(2026, 1, 1, tzinfo=zone)
    minute = 37
    assert not is_due(datetime(2026, 3, 10, 3, 36, tzinfo=zone), 3, True, None, created, minute)
    assert is_due(datetime(2026, 3, 10, 3, 37, tzinfo=zone), 3, True, None, created, minute)
    assert not is_due(datetime(2026, 3, 10, 3, 50, tzinfo=zone), 3, True, date(2026, 3, 10), created, minute)


async def test_a_run_whose_process_stopped_beating_frees_its_slot(scoring_url: str) -> None:
    database = Database(create_engine(scoring_url, application_name="runs-test", pool_size=2))
    try:
        store = SqlRunStore(database, 1)
        await settle(database)
        dead, waiting = await provision(database), await provision(database)
        today = datetime.now(UTC).date()
        abandoned = await store.start(dead, today, "api")
        assert abandoned is not None
        assert [run.run_id for run in await store.claim()] == [abandoned.run_id]
        queued = await store.start(waiting, today, "api")
        assert queued is not None
        assert await store.claim() == []
        async with database.transaction() as connection:
            await connection.execute(
                sa.text(
                    "UPDATE scoring_runs SET heartbeat_at = now() - interval '3 minutes' WHERE run_id = :r"
                ),
                {"r": abandoned.run_id},
            )
        assert [run.run_id for run in await store.claim()] == [queued.run_id]
        gone = await store.get(dead, abandoned.run_id)
        assert (gone.status, gone.error) == ("failed", "abandoned: its process stopped")
        await store.finish(queued.run_id, None)
    finally:
        await database.dispose()

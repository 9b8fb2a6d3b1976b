"""Issue 18 item 5: a backdated run never overwrites the present, and a new tenant's daily run does not
start at its creation (the operator's first manual run is not refused with 409).

Through the gateway on the real services, plus the real schedule over the real scoring store.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from services.scoring.domain.batch_runs import BatchRuns
from services.scoring.domain.run_schedule import DailySchedule, TenantSchedule
from services.scoring.domain.runs import is_backdated, is_due
from services.scoring.store.feature_tables import outbox as outbox_table
from services.scoring.store.feature_tables import scoring_runs
from services.scoring.store.run_phases import SqlRunPhases
from services.scoring.store.runs import SqlRunStore
from services.scoring.store.tenant_settings import SqlTenantSettings
from tests.conftest import TenantKey, create_tenant
from tests.test_scoring_api import customer, order, run, scored_orders, scores

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
async def scoring_db(database_urls: dict[str, str]) -> AsyncIterator[Database]:
    database = Database(create_engine(database_urls["scoring"], application_name="test-backdated"))
    yield database
    await database.engine.dispose()


async def test_a_backdated_run_leaves_the_live_scores_and_keeps_a_snapshot(api: httpx.AsyncClient) -> None:
    shop = await create_tenant(api, "Backdated", timezone="UTC", currency="CNY")
    alice = await customer(api, shop, "13900000071")
    await order(api, shop, alice, "B-1", 20, 10_000, category="tea")
    await order(api, shop, alice, "B-2", 5, 30_000, category="tea")
    await scored_orders(api, shop, alice, 2)
    live_run = await run(api, shop)
    assert live_run["details"]["writes"] == "live"
    before = await scores(api, shop, alice)
    assert before["rfm"] is not None
    assert before["lifecycle"]["stage"] == "growth"
    rfm_before = (await api.get("/v1/scoring/rfm", headers=shop.headers)).json()

    past = await run(api, shop, TODAY - timedelta(days=300))

    assert past["details"]["writes"] == "snapshot"
    snapshot = past["details"]["snapshot"]
    # As of 300 days ago Alice had not bought yet: that is the snapshot, not her live state.
    assert snapshot["as_of"] == (TODAY - timedelta(days=300)).isoformat()
    assert snapshot["stages"] == {"acquisition": 1}
    assert snapshot["rfm_groups"] == {}
    assert snapshot["thresholds"] is None
    assert past["details"]["stage_changes"] == 0
    assert past["details"]["tags_written"] == 0
    assert await scores(api, shop, alice) == before
    assert (await api.get("/v1/scoring/rfm", headers=shop.headers)).json() == rfm_before


async def test_a_backdated_snapshot_has_the_figures_of_its_day(api: httpx.AsyncClient) -> None:
    shop = await create_tenant(api, "Backdated figures", timezone="UTC", currency="CNY")
    bob = await customer(api, shop, "13900000072")
    await order(api, shop, bob, "F-1", 40, 12_345)
    await order(api, shop, bob, "F-2", 1, 100)
    await scored_orders(api, shop, bob, 2)
    before = await scores(api, shop, bob)

    past = await run(api, shop, TODAY - timedelta(days=30))

    snapshot = past["details"]["snapshot"]
    assert snapshot["stages"] == {"growth": 1}
    [(_group, figures)] = snapshot["rfm_groups"].items()
    assert figures == {"customers": 1, "spend_minor": 12_345}
    assert snapshot["thresholds"]["customers"] == 1
    after = await scores(api, shop, bob)
    assert after == before
    assert after["features"]["net_spend_minor"] == 12_445


def test_is_backdated_is_before_the_tenants_today() -> None:
    assert is_backdated(date(2026, 1, 1), date(2026, 1, 2))
    assert not is_backdated(date(2026, 1, 2), date(2026, 1, 2))
    assert not is_backdated(date(2026, 1, 3), date(2026, 1, 2))


def test_a_tenant_created_after_the_hour_waits_for_the_next_day() -> None:
    zone = UTC
    created = datetime(2026, 3, 10, 10, 30, tzinfo=zone)
    same_day = datetime(2026, 3, 10, 10, 31, tzinfo=zone)
    assert not is_due(same_day, 3, True, None, created)
    assert not is_due(datetime(2026, 3, 11, 2, 59, tzinfo=zone), 3, True, None, created)
    assert is_due(datetime(2026, 3, 11, 3, 0, tzinfo=zone), 3, True, None, created)
    # Created before the day's hour: that day's run is due once the hour comes.
    early = datetime(2026, 3, 10, 1, 0, tzinfo=zone)
    assert not is_due(datetime(2026, 3, 10, 2, 0, tzinfo=zone), 3, True, None, early)
    assert is_due(datetime(2026, 3, 10, 3, 0, tzinfo=zone), 3, True, None, early)
    assert not is_due(datetime(2026, 3, 10, 4, 0, tzinfo=zone), 3, True, date(2026, 3, 10), early)
    assert not is_due(datetime(2026, 3, 10, 4, 0, tzinfo=zone), 3, False, None, early)


class _OneTenant:
    """The real tenant settings store, narrowed to one tenant so the round touches no other test's."""

    def __init__(self, store: SqlTenantSettings, tenant_id: uuid.UUID) -> None:
        self._store = store
        self._tenant_id = tenant_id

    async def schedules(self) -> list[TenantSchedule]:
        return [s for s in await self._store.schedules() if s[0] == self._tenant_id]


async def test_the_schedule_does_not_start_a_new_tenants_run_at_creation(
    api: httpx.AsyncClient, scoring_db: Database, tenant: TenantKey
) -> None:
    # The hour has passed everywhere at local hour 0: only the creation time can hold the run back.
    response = await api.put(
        "/v1/scoring/config", json={"schedule": {"local_hour": 0}}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    settings = SqlTenantSettings(scoring_db)
    runs = BatchRuns(
        SqlRunStore(scoring_db), settings, SqlRunPhases(scoring_db, Outbox("scoring", outbox_table, 1)), None
    )
    tenant_id = uuid.UUID(tenant.tenant_id)
    one = _OneTenant(settings, tenant_id)
    [(_, _, config, _)] = await one.schedules()
    assert config.run_local_hour == 0

    await DailySchedule(one, runs).round()

    async with scoring_db.read() as connection:
        started = (
            await connection.execute(
                sa.select(sa.func.count())
                .select_from(scoring_runs)
                .where(scoring_runs.c.tenant_id == tenant_id)
            )
        ).scalar_one()
    assert started == 0
    first = await api.post("/v1/scoring/runs", json={}, headers=tenant.headers)
    assert first.status_code == 202, first.text
    await runs.stop()

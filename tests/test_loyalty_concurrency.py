"""Points under concurrency and crashes: racing redemptions never overdraw, racing sign-ins award
once, and a loyalty process SIGKILLed between its ledger write and its position commit still
earns an order exactly once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import httpx
import sqlalchemy as sa

from services.loyalty.fault_injection import KILL_AFTER_EARN_ENV
from services.loyalty.store.tables import tenants
from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.runtime.server import ServiceServer
from services.runtime.tenancy import Tenant
from services.runtime.tenant_store import upsert_tenant
from tests.conftest import TenantKey
from tests.stream_heads import start_at_the_heads
from tests.support import PostgresServer, free_port
from tests.test_loyalty_api import new_customer, pay, points, wait_for_balance

REDEMPTIONS = 200
COVERED = 10


async def test_200_concurrent_redemptions_against_10_points_exactly_10_succeed(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    customer = await new_customer(api, tenant)
    credit = await api.post(
        f"/v1/customers/{customer}/points/adjustments",
        json={"points": COVERED, "reason": "to spend"},
        headers=tenant.headers,
    )
    assert credit.status_code == 201, credit.text

    # Without Idempotency-Key: each request is its own redemption (the gateway gives it a fresh key).
    answers = await asyncio.gather(
        *[
            api.post(
                f"/v1/customers/{customer}/points/redemptions",
                json={"points": 1, "reason": "race"},
                headers=tenant.headers,
            )
            for _ in range(REDEMPTIONS)
        ]
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == COVERED, statuses
    assert statuses.count(409) == REDEMPTIONS - COVERED, statuses
    assert sorted(a.json()["balance"] for a in answers if a.status_code == 201) == list(range(COVERED))
    assert (await points(api, tenant, customer))["balance"] == 0
    ledger = (
        await api.get(f"/v1/customers/{customer}/points/ledger?limit=500", headers=tenant.headers)
    ).json()
    assert sum(e["delta"] for e in ledger["items"]) == 0
    assert [e["type"] for e in ledger["items"]].count("redeem") == COVERED


async def test_concurrent_sign_ins_of_one_day_award_once(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = await new_customer(api, tenant)
    answers = await asyncio.gather(
        *[api.post(f"/v1/customers/{customer}/sign-ins", headers=tenant.headers) for _ in range(20)]
    )
    # Issue 18 item 7: one 201 awarding 5; every repeat 200 awarding 0 with the day's award.
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    bodies = [a.json() for a in answers]
    assert {(b["awarded_today"], b["streak"], b["local_date"]) for b in bodies} == {
        (5, 1, bodies[0]["local_date"])
    }
    assert sorted(b["points_awarded"] for b in bodies) == [0] * 19 + [5]
    assert [b["already_signed_in"] for b in bodies].count(False) == 1
    assert (await points(api, tenant, customer))["balance"] == 5


def start_loyalty(
    database_url: str, profile_address: str, *, kill_after_earn: bool
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PATRON_ENV": "test",
        "PATRON_LOG_FORMAT": "text",
        "PATRON_LOYALTY_DATABASE_URL": database_url,
        "PATRON_LOYALTY_GRPC_HOST": "127.0.0.1",
        "PATRON_LOYALTY_GRPC_PORT": str(free_port()),
        "PATRON_LOYALTY_PROFILE_ADDRESS": profile_address,
        "PATRON_LOYALTY_CONSUMER_LEASE_SECONDS": "1",
        KILL_AFTER_EARN_ENV: "1" if kill_after_earn else "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.loyalty"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_a_loyalty_process_killed_after_its_ledger_write_still_earns_once(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    services: dict[str, ServiceServer],
    postgres: PostgresServer,
    database_urls: dict[str, str],
) -> None:
    name = f"patron_loyalty_crash_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    await asyncio.to_thread(migrations.upgrade, "loyalty", url)
    await start_at_the_heads(database_urls, "loyalty", url)  # the test is the crash, not catching up
    db = Database(create_engine(url, application_name="test-crash"))
    tenant_id = uuid.UUID(tenant.tenant_id)
    async with db.transaction() as connection:
        await upsert_tenant(
            connection, tenants, Tenant(tenant_id, "Crash shop", "Asia/Shanghai", "CNY", "CN")
        )
    profile = f"127.0.0.1:{services['profile'].bound_port}"
    customer = await new_customer(api, tenant)
    process = start_loyalty(url, profile, kill_after_earn=True)
    try:
        await pay(api, tenant, customer, 4_200)  # 42 points
        await wait_for_balance(api, tenant, customer, 42)  # the test session's own loyalty service
        code = await asyncio.wait_for(asyncio.to_thread(process.wait), timeout=60)
        assert code == -9, "the fault injection should have killed the process"

        async def earned() -> list[int]:
            async with db.read() as connection:
                rows = await connection.execute(
                    sa.text("SELECT delta FROM point_entries WHERE tenant_id = :t AND type = 'earn'"),
                    {"t": tenant_id},
                )
                return [int(r.delta) for r in rows]

        assert await earned() == []  # the kill came before the commit: nothing of it remains
        process = start_loyalty(url, profile, kill_after_earn=False)
        for _ in range(300):
            if await earned():
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # a second earn would show up now
        assert await earned() == [42]
        async with db.read() as connection:
            balance = (
                await connection.execute(
                    sa.text("SELECT balance FROM point_accounts WHERE tenant_id = :t AND customer_id = :c"),
                    {"t": tenant_id, "c": uuid.UUID(customer)},
                )
            ).scalar_one()
        assert balance == 42
    finally:
        process.kill()
        process.wait()
        await db.dispose()
        await postgres.drop_database(name)

"""Membership through the gateway and the real services: the tier of a newcomer, the upgrade on the
paid order that crosses a threshold (through profile's events), history, tier.changed once, merges
and tenancy."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from services.loyalty.store.tables import outbox
from services.runtime.server import ServiceServer
from tests.conftest import TenantKey
from tests.test_loyalty_api import WAIT_SECONDS, new_customer, pay


async def membership(api: httpx.AsyncClient, tenant: TenantKey, customer: str) -> dict[str, Any]:
    response = await api.get(f"/v1/customers/{customer}/membership", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_for_tier(
    api: httpx.AsyncClient, tenant: TenantKey, customer: str, code: str
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    seen: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        seen = await membership(api, tenant, customer)
        if seen["tier"]["code"] == code:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"the tier never became {code}: {seen}")


async def test_a_newcomer_holds_the_base_tier(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = await new_customer(api, tenant)
    shown = await membership(api, tenant, customer)
    assert shown["tier"] == {"code": "regular", "name": "Regular", "threshold": 0}
    assert shown["benefits"]["discount_percent"] == 0
    assert shown["progress"] == {
        "metric": "spend",
        "window_months": 12,
        "value": 0,
        "next_tier": {"code": "silver", "name": "Silver", "threshold": 100_000},
        "next_threshold": 100_000,
        "remaining": 100_000,
    }
    assert shown["next_review_at"] is None
    history = await api.get(f"/v1/customers/{customer}/membership/history", headers=tenant.headers)
    assert history.json() == {"items": [], "next_cursor": None}


async def test_the_order_that_crosses_the_threshold_upgrades_once(
    api: httpx.AsyncClient, tenant: TenantKey, services: dict[str, ServiceServer]
) -> None:
    customer = await new_customer(api, tenant)
    await pay(api, tenant, customer, 60_000)
    await pay(api, tenant, customer, 40_000)
    shown = await wait_for_tier(api, tenant, customer, "silver")
    assert shown["benefits"]["discount_percent"] == 10
    assert shown["progress"]["next_tier"]["code"] == "gold"
    assert shown["next_review_at"] is not None
    await pay(api, tenant, customer, 1_000)
    history = (await api.get(f"/v1/customers/{customer}/membership/history", headers=tenant.headers)).json()
    assert [(c["from_tier"], c["to_tier"], c["direction"]) for c in history["items"]] == [
        ("regular", "silver", "upgrade")
    ]
    await asyncio.sleep(0.3)  # the last order has been applied too (no second upgrade from it)
    async with services["loyalty"].database.read() as connection:
        count = (
            await connection.execute(
                sa.select(sa.func.count()).where(
                    outbox.c.customer_id == uuid.UUID(customer), outbox.c.type == "tier.changed"
                )
            )
        ).scalar_one()
    assert count == 1


async def test_a_merge_keeps_the_higher_tier(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    survivor, other = await new_customer(api, tenant), await new_customer(api, tenant)
    await pay(api, tenant, other, 500_000)
    await wait_for_tier(api, tenant, other, "gold")
    merged = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": other}, headers=tenant.headers
    )
    assert merged.status_code == 200, merged.text
    shown = await wait_for_tier(api, tenant, survivor, "gold")
    assert shown["progress"]["value"] == 500_000
    via_old_id = await membership(api, tenant, other)
    assert via_old_id["customer_id"] == survivor


async def test_another_tenants_key_gets_404(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    customer = await new_customer(api, tenant)
    for path in (f"/v1/customers/{customer}/membership", f"/v1/customers/{customer}/membership/history"):
        assert (await api.get(path, headers=other_tenant.headers)).status_code == 404
    assert (await api.get("/v1/customers/not-a-uuid/membership", headers=tenant.headers)).status_code == 404
    bad = await api.get(f"/v1/customers/{customer}/membership/history?limit=0", headers=tenant.headers)
    assert bad.status_code == 422
    cursor = await api.get(f"/v1/customers/{customer}/membership/history?cursor=zz", headers=tenant.headers)
    assert cursor.status_code == 422

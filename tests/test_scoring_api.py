"""Scoring through the gateway on the real services: projection from profile's events, runs, RFM,
lifecycle, configuration, tenancy. Each test uses a tenant of its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import TenantKey

TODAY = datetime.now(UTC).date()


async def eventually(check: Callable[[], Awaitable[Any]], seconds: float = 15.0) -> Any:
    """Poll ``check`` until it returns something truthy (the consumer is asynchronous)."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def customer(api: httpx.AsyncClient, tenant: TenantKey, phone: str) -> str:
    response = await api.post(
        "/v1/customers/identify",
        json={"identities": [{"type": "phone", "value": phone}]},
        headers=tenant.headers,
    )
    assert response.status_code in (200, 201), response.text
    customer_id: str = response.json()["customer_id"]
    return customer_id


async def order(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    customer_id: str,
    order_id: str,
    days_ago: int,
    amount: int,
    **extra: Any,
) -> None:
    paid_at = datetime.now(UTC) - timedelta(days=days_ago)
    body = {
        "order_id": order_id,
        "customer_id": customer_id,
        "paid_at": paid_at.isoformat(),
        "currency": "CNY",
        "amount_minor": amount,
        "items": [{"sku": "S", "unit_price_minor": amount, "quantity": 1, **extra}],
    }
    response = await api.post("/v1/orders", json=body, headers=tenant.headers)
    assert response.status_code in (200, 201), response.text


async def scores(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/customers/{customer_id}/scores", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def scored_orders(
    api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, count: int
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = await scores(api, tenant, customer_id)
        return body if body["features"].get("order_count") == count else None

    result: dict[str, Any] = await eventually(check)
    return result


async def run(api: httpx.AsyncClient, tenant: TenantKey, as_of: date | None = None) -> dict[str, Any]:
    body = {} if as_of is None else {"as_of": as_of.isoformat()}
    response = await api.post("/v1/scoring/runs", json=body, headers=tenant.headers)
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]

    async def finished() -> dict[str, Any] | None:
        status = await api.get(f"/v1/scoring/runs/{run_id}", headers=tenant.headers)
        assert status.status_code == 200, status.text
        state: dict[str, Any] = status.json()
        return state if state["status"] != "running" else None

    result: dict[str, Any] = await eventually(finished, seconds=30)
    assert result["status"] == "succeeded", result
    return result


async def test_projection_run_and_scores(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    alice = await customer(api, tenant, "13900000001")
    await order(api, tenant, alice, "A-1", 40, 10_000, category="tea", brand="West Lake")
    await order(api, tenant, alice, "A-2", 20, 30_000, category="tea", brand="Longjing")
    first = await scored_orders(api, tenant, alice, 2)
    assert first["rfm"] is None  # no batch run yet: no thresholds
    assert first["lifecycle"]["stage"] == "growth"
    assert first["features"]["net_spend_minor"] == 40_000
    assert first["features"]["top_category"] == "tea"
    assert abs(first["features"]["mean_gap_days"] - 20.0) < 0.01
    state = await run(api, tenant)
    assert state["progress"]["phase"] == "done"
    after = await scores(api, tenant, alice)
    assert after["rfm"] is not None
    assert after["rfm"]["frequency"] == 2

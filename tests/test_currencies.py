"""One currency rule through the gateway and the real services (docs/currencies.md): a tenant's own
currency must be tender, as an order's must; an order in another currency is recorded but earns
no points, moves no tier and adds nothing to spend-based scores, while the tenant's own earns."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import REGISTRY

from services.runtime.currencies import NOT_TENDER, counts_as_money, is_tender
from tests.conftest import ADMIN_TOKEN, TenantKey, create_tenant

UNEARNED = "patron_loyalty_orders_unearned_total"


async def eventually(check: Callable[[], Awaitable[Any]], seconds: float = 15.0) -> Any:
    """Poll ``check`` until it answers something truthy (the consumers are asynchronous)."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def test_the_rule_names_metals_funds_and_non_currencies() -> None:
    for code in ("XAU", "XAG", "XXX", "XTS", "XDR", "CLF", "USN", "xau"):
        assert not is_tender(code), code
    for code in ("EUR", "JPY", "CNY", "KWD", "XOF", "eur"):
        assert is_tender(code), code
    assert all(len(code) == 3 for code in NOT_TENDER)
    assert counts_as_money("", "EUR")
    assert counts_as_money("eur", "EUR")
    assert not counts_as_money("JPY", "EUR")


async def test_a_tenant_currency_that_orders_cannot_use_is_refused(api: httpx.AsyncClient) -> None:
    for code in ("XXX", "XAU", "CLF", "ABC"):
        response = await api.post(
            "/v1/admin/tenants",
            json={"name": "Gold shop", "currency": code},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 422, (code, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert {e["field"] for e in response.json()["errors"]} == {"currency"}, response.text


async def _pay(
    api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, currency: str, amount: int
) -> None:
    paid_at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    body = {
        "order_id": f"SO-{uuid.uuid4().hex[:12]}",
        "customer_id": customer_id,
        "paid_at": paid_at,
        "currency": currency,
        "amount_minor": amount,
        "items": [{"sku": "TEA-1", "unit_price_minor": amount, "quantity": 1}],
    }
    response = await api.post("/v1/orders", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text


async def _get(api: httpx.AsyncClient, tenant: TenantKey, path: str) -> dict[str, Any]:
    response = await api.get(path, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_order_in_another_currency_earns_and_counts_nothing(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(
        api, "Euro shop", currency="EUR", timezone="Europe/Berlin", default_region="DE"
    )
    identified = await api.post(
        "/v1/customers/identify",
        json={"identities": [{"type": "external_id", "value": "euro-1"}]},
        headers=tenant.headers,
    )
    assert identified.status_code == 200, identified.text
    customer = identified.json()["customer_id"]
    unearned_before = REGISTRY.get_sample_value(UNEARNED, {"reason": "foreign_currency"}) or 0.0

    await _pay(api, tenant, customer, "JPY", 5_000)  # ¥5,000: recorded, earns nothing
    await _pay(api, tenant, customer, "EUR", 12_345)  # €123.45: 123 points

    async def scored_both() -> dict[str, Any] | None:
        body = await _get(api, tenant, f"/v1/customers/{customer}/scores")
        return body if body["features"].get("order_count") == 2 else None

    async def earned() -> dict[str, Any] | None:
        body = await _get(api, tenant, f"/v1/customers/{customer}/points")
        return body if body["balance"] > 0 else None

    scores = await eventually(scored_both)
    assert scores["features"]["net_spend_minor"] == 12_345  # the yen are no euros
    assert scores["features"]["avg_unit_price_minor"] == 12_345
    # Both orders travel one customer's partition in order: once the euro order earned, the yen
    # order has been applied before it.
    assert (await eventually(earned))["balance"] == 123
    ledger = await _get(api, tenant, f"/v1/customers/{customer}/points/ledger")
    assert [(e["type"], e["delta"]) for e in ledger["items"]] == [("earn", 123)]
    membership = await _get(api, tenant, f"/v1/customers/{customer}/membership")
    assert membership["progress"]["value"] == 12_345
    unearned = REGISTRY.get_sample_value(UNEARNED, {"reason": "foreign_currency"})
    assert unearned == unearned_before + 1

"""``POST /v1/segments/preview`` through the real gateway and services, with every fact arriving
through the API (identify with attributes, behaviour events, orders) and applied by scoring's
consumers: the exact count and its sample, the 24-hour abandoned cart gaining and losing a customer,
every fault of a bad condition named by its path, and another tenant's customers never counted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import TenantKey
from tests.test_audience_projection import eventually
from tests.test_loyalty_api import new_customer

ABANDONED_CART = {"event": "add_to_cart", "within": "PT24H", "not_followed_by": "order"}
HANGZHOU_WOMEN = {
    "all": [
        {"field": "attributes.gender", "op": "eq", "value": "female"},
        {"field": "attributes.city", "op": "in", "value": ["Hangzhou", "Ningbo"]},
    ]
}


async def preview(
    api: httpx.AsyncClient, tenant: TenantKey, condition: Any, sample_size: int | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"condition": condition}
    if sample_size is not None:
        body["sample_size"] = sample_size
    return await api.post("/v1/segments/preview", json=body, headers=tenant.headers)


async def answer(api: httpx.AsyncClient, tenant: TenantKey, condition: Any) -> dict[str, Any]:
    response = await preview(api, tenant, condition)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def counted(api: httpx.AsyncClient, tenant: TenantKey, condition: Any, expected: int) -> dict[str, Any]:
    """The preview once it counts ``expected`` (scoring's consumers apply the facts asynchronously)."""
    return await eventually(lambda: answer(api, tenant, condition), lambda a: a["count"] == expected)


async def add_to_cart(api: httpx.AsyncClient, tenant: TenantKey, customer: str, at: datetime) -> None:
    event = {
        "event_id": f"cart-{uuid.uuid4().hex}",
        "customer_id": customer,
        "type": "add_to_cart",
        "occurred_at": at.isoformat(),
        "properties": {"sku": "TEA-1"},
    }
    response = await api.post("/v1/events", json={"events": [event]}, headers=tenant.headers)
    assert response.is_success, response.text


async def order(api: httpx.AsyncClient, tenant: TenantKey, customer: str, paid_at: datetime) -> None:
    body = {
        "order_id": f"SO-{uuid.uuid4().hex[:12]}",
        "customer_id": customer,
        "paid_at": paid_at.isoformat(),
        "currency": "CNY",
        "amount_minor": 5_000,
        "items": [{"sku": "TEA-1", "unit_price_minor": 5_000, "quantity": 1}],
    }
    response = await api.post("/v1/orders", json=body, headers=tenant.headers)
    assert response.status_code in (200, 201), response.text


async def test_attribute_condition_counts_exactly_with_a_sample_in_id_order(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    women = [
        await new_customer(api, tenant, gender="female", city="Hangzhou"),
        await new_customer(api, tenant, gender="female", city="Ningbo"),
        await new_customer(api, tenant, gender="female", city="Hangzhou"),
    ]
    await new_customer(api, tenant, gender="male", city="Hangzhou")
    await new_customer(api, tenant, gender="female", city="Shanghai")
    await new_customer(api, tenant)

    result = await counted(api, tenant, HANGZHOU_WOMEN, 3)
    assert result == {"count": 3, "sample": sorted(women)}
    response = await preview(api, tenant, HANGZHOU_WOMEN, sample_size=2)
    assert response.json() == {"count": 3, "sample": sorted(women)[:2]}
    response = await preview(api, tenant, HANGZHOU_WOMEN, sample_size=0)
    assert response.json() == {"count": 3, "sample": []}
    assert (await counted(api, tenant, {"not": HANGZHOU_WOMEN}, 3))["count"] == 3


async def test_abandoned_cart_gains_a_customer_on_add_to_cart_and_loses_them_on_an_order(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    shopper = await new_customer(api, tenant, gender="female")
    stale = await new_customer(api, tenant)
    await add_to_cart(api, tenant, stale, datetime.now(UTC) - timedelta(hours=25))
    assert (await answer(api, tenant, ABANDONED_CART))["count"] == 0

    await add_to_cart(api, tenant, shopper, datetime.now(UTC) - timedelta(minutes=30))
    assert await counted(api, tenant, ABANDONED_CART, 1) == {"count": 1, "sample": [shopper]}

    await order(api, tenant, shopper, datetime.now(UTC))
    assert await counted(api, tenant, ABANDONED_CART, 0) == {"count": 0, "sample": []}
    # the cart is still there: only the order after it took the customer out
    assert (await answer(api, tenant, {"event": "add_to_cart", "within": "PT24H"}))["count"] == 1


async def test_a_faulty_condition_answers_422_naming_every_fault_by_its_path(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    condition = {
        "all": [
            {"field": "attributes.gender", "op": "eq", "value": "female"},
            {"field": "attributes.shoe_size", "op": "eq", "value": 38},
            {"field": "attributes.city", "op": "sounds_like", "value": "Hangzhou"},
            {"event": "add_to_cart", "within": "yesterday"},
        ]
    }
    response = await preview(api, tenant, condition)
    assert response.status_code == 422, response.text
    fields = {error["field"] for error in response.json()["errors"]}
    assert {"condition.all[1].field", "condition.all[2].op", "condition.all[3].within"} <= fields
    assert all(field.startswith("condition.all[") for field in fields)

    # a hostile string is only a value: it matches nobody and breaks nothing
    hostile = {"field": "attributes.city", "op": "eq", "value": "'; DROP TABLE customers; -- ${x}"}
    assert await answer(api, tenant, hostile) == {"count": 0, "sample": []}

    bad_conditions: list[dict[str, Any]] = [{}, {"all": []}, {"nope": 1}]
    for bad in bad_conditions:
        response = await preview(api, tenant, bad)
        assert response.status_code == 422, response.text
        assert all(e["field"].startswith("condition") for e in response.json()["errors"]), response.text
    response = await preview(api, tenant, HANGZHOU_WOMEN, sample_size=21)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["sample_size"]
    response = await api.post("/v1/segments/preview", json={"condition": [1]}, headers=tenant.headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["condition"]


async def test_another_tenants_customers_are_never_counted(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    theirs = await new_customer(api, tenant, gender="female", city="Hangzhou")
    await add_to_cart(api, tenant, theirs, datetime.now(UTC) - timedelta(minutes=5))
    await counted(api, tenant, ABANDONED_CART, 1)
    await counted(api, tenant, HANGZHOU_WOMEN, 1)

    assert await answer(api, other_tenant, HANGZHOU_WOMEN) == {"count": 0, "sample": []}
    assert await answer(api, other_tenant, ABANDONED_CART) == {"count": 0, "sample": []}
    assert (await answer(api, other_tenant, {"not": HANGZHOU_WOMEN}))["count"] == 0

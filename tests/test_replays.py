"""Replays tell the truth (issue 18 item 7), through the gateway and the real services: a replayed
points movement says so in header and body alike; redeeming a coupon again for the same order and
amount answers the first redemption; a repeated sign-in of the day cannot be read as an award."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import TenantKey


async def _customer(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    body = {"identities": [{"type": "external_id", "value": f"r-{uuid.uuid4().hex}"}]}
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    customer_id: str = response.json()["customer_id"]
    return customer_id


async def _balance(api: httpx.AsyncClient, tenant: TenantKey, customer: str) -> int:
    response = await api.get(f"/v1/customers/{customer}/points", headers=tenant.headers)
    assert response.status_code == 200, response.text
    balance: int = response.json()["balance"]
    return balance


async def test_a_replayed_adjustment_says_replayed_in_header_and_body(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    customer = await _customer(api, tenant)
    url = f"/v1/customers/{customer}/points/adjustments"
    headers = {**tenant.headers, "Idempotency-Key": f"adj-{uuid.uuid4().hex}"}
    body = {"points": 40, "reason": "goodwill"}
    first = await api.post(url, json=body, headers=headers)
    again = await api.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert "idempotent-replayed" not in first.headers
    assert first.json()["replayed"] is False
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["replayed"] is True
    assert {k: v for k, v in again.json().items() if k != "replayed"} == {
        k: v for k, v in first.json().items() if k != "replayed"
    }
    assert await _balance(api, tenant, customer) == 40


async def _coupon(api: httpx.AsyncClient, tenant: TenantKey, customer: str) -> str:
    template = await api.post(
        "/v1/coupon-templates",
        json={"name": "Five off", "kind": "no_threshold", "discount_minor": 500, "valid_days": 30},
        headers=tenant.headers,
    )
    assert template.status_code == 201, template.text
    issued = await api.post(
        f"/v1/customers/{customer}/coupons",
        json={"template_id": template.json()["template_id"]},
        headers=tenant.headers,
    )
    assert issued.status_code == 201, issued.text
    code: str = issued.json()["code"]
    return code


async def test_redeeming_again_for_the_same_order_answers_the_first_redemption(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    customer = await _customer(api, tenant)
    code = await _coupon(api, tenant, customer)
    url = f"/v1/coupons/{code}/redeem"
    body: dict[str, Any] = {"order_id": "SO-RETRY-1", "amount_minor": 10_000}
    first = await api.post(url, json=body, headers=tenant.headers)
    retry = await api.post(url, json=body, headers=tenant.headers)
    assert first.status_code == retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    assert first.json()["discount_minor"] == 500
    # Another order, or another amount for the same order, is a second redemption: refused.
    for other in ({"order_id": "SO-RETRY-2", "amount_minor": 10_000}, {**body, "amount_minor": 9_000}):
        refused = await api.post(url, json=other, headers=tenant.headers)
        assert refused.status_code == 409, refused.text
        assert refused.json()["reason"] == "COUPON_REDEEMED"
    template = (await api.get(f"/v1/customers/{customer}/coupons", headers=tenant.headers)).json()
    assert [c["status"] for c in template["items"]] == ["redeemed"]


async def test_a_repeated_sign_in_is_not_a_second_award(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = await _customer(api, tenant)
    url = f"/v1/customers/{customer}/sign-ins"
    first = await api.post(url, headers=tenant.headers)
    again = await api.post(url, headers=tenant.headers)
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert (first.json()["points_awarded"], first.json()["already_signed_in"]) == (5, False)
    assert (again.json()["points_awarded"], again.json()["already_signed_in"]) == (0, True)
    assert again.json()["awarded_today"] == first.json()["awarded_today"] == 5
    assert (again.json()["streak"], again.json()["local_date"]) == (
        first.json()["streak"],
        first.json()["local_date"],
    )
    assert await _balance(api, tenant, customer) == 5

"""Points through the gateway and the real services: programme, earning from orders and refunds,
redemptions (idempotent, 409 with the balance), adjustments, sign-ins, reports, tenancy, 422s."""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import httpx

from tests.conftest import TenantKey

WAIT_SECONDS = 15.0


async def new_customer(api: httpx.AsyncClient, tenant: TenantKey, **attributes: str) -> str:
    body: dict[str, Any] = {"identities": [{"type": "external_id", "value": f"c-{uuid.uuid4().hex}"}]}
    if attributes:
        body["attributes"] = attributes
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    customer_id: str = response.json()["customer_id"]
    return customer_id


async def pay(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    customer_id: str,
    amount_minor: int,
    order_id: str | None = None,
) -> str:
    order_id = order_id or f"SO-{uuid.uuid4().hex[:12]}"
    body = {
        "order_id": order_id,
        "customer_id": customer_id,
        "paid_at": "2026-03-01T10:15:00+08:00",
        "currency": "CNY",
        "amount_minor": amount_minor,
        "items": [{"sku": "TEA-1", "unit_price_minor": amount_minor, "quantity": 1}],
    }
    response = await api.post("/v1/orders", json=body, headers=tenant.headers)
    assert response.status_code in (200, 201), response.text
    return order_id


async def points(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/customers/{customer_id}/points", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_for_balance(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, balance: int) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    seen: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        seen = await points(api, tenant, customer_id)
        if seen["balance"] == balance:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"balance never became {balance}: {seen}")


async def redeem(
    api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, amount: int, key: str | None = None
) -> httpx.Response:
    headers = {**tenant.headers, **({"Idempotency-Key": key} if key else {})}
    return await api.post(
        f"/v1/customers/{customer_id}/points/redemptions",
        json={"points": amount, "reason": "gift"},
        headers=headers,
    )


async def test_a_new_tenant_runs_the_default_programme(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    response = await api.get("/v1/loyalty/program", headers=tenant.headers)
    assert response.status_code == 200, response.text
    program = response.json()
    assert program["version"] == 0
    assert (program["earn"]["points_per_unit"], program["earn"]["rounding"]) == (1, "down")
    assert program["expiry"] == {"kind": "end_of_following_year", "months": None}
    assert [t["code"] for t in program["ladder"]["tiers"]] == ["regular", "silver", "gold", "platinum"]
    assert program["ladder"]["tiers"][0]["threshold"] == 0


async def test_put_stores_versions_and_keeps_history(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    program = (await api.get("/v1/loyalty/program", headers=tenant.headers)).json()
    del program["version"]
    program["earn"]["points_per_unit"] = 3
    first = await api.put("/v1/loyalty/program", json=program, headers=tenant.headers)
    assert first.status_code == 200, first.text
    program["expiry"] = {"kind": "months_after_earn", "months": 6}
    second = await api.put("/v1/loyalty/program", json=program, headers=tenant.headers)
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    current = (await api.get("/v1/loyalty/program", headers=tenant.headers)).json()
    assert (current["version"], current["expiry"]["months"]) == (2, 6)
    older = (await api.get("/v1/loyalty/program?version=1", headers=tenant.headers)).json()
    assert (older["version"], older["earn"]["points_per_unit"], older["expiry"]["kind"]) == (
        1,
        3,
        "end_of_following_year",
    )
    assert (await api.get("/v1/loyalty/program?version=9", headers=tenant.headers)).status_code == 404


async def test_a_bad_programme_is_422_naming_every_field(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    good = (await api.get("/v1/loyalty/program", headers=tenant.headers)).json()
    del good["version"]
    bad = copy.deepcopy(good)
    bad["ladder"]["tiers"][1]["threshold"] = 0
    bad["ladder"]["tiers"][2]["code"] = "silver"
    bad["earn"]["streak_bonuses"] = [{"day": 7, "bonus": 1}, {"day": 3, "bonus": 1}]
    bad["expiry"] = {"kind": "months_after_earn"}
    bad["downgrade"]["grace_days"] = -1
    response = await api.put("/v1/loyalty/program", json=bad, headers=tenant.headers)
    assert response.status_code == 422, response.text
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {
        "ladder.tiers[1].threshold",
        "ladder.tiers[2].code",
        "earn.streak_bonuses[1].day",
        "expiry.months",
        "downgrade.grace_days",
    }
    shape = copy.deepcopy(good)
    shape["earn"]["rounding"] = "sideways"
    shape["ladder"]["tiers"][0]["threshold"] = 2**70
    shape["extra"] = 1
    response = await api.put("/v1/loyalty/program", json=shape, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert (await api.get("/v1/loyalty/program", headers=tenant.headers)).json()["version"] == 0


async def test_an_order_earns_once_and_a_redemption_spends(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = await new_customer(api, tenant)
    await pay(api, tenant, customer, 19_990)  # 199.90 CNY → 199 points (whole units, rounded down)
    await wait_for_balance(api, tenant, customer, 199)
    assert (await points(api, tenant, customer))["expiring_30d"] == 0

    response = await redeem(api, tenant, customer, 150, key="redeem-1")
    assert response.status_code == 201, response.text
    assert response.json()["balance"] == 49
    replay = await redeem(api, tenant, customer, 150, key="redeem-1")
    assert (replay.status_code, replay.json()["entry_id"]) == (201, response.json()["entry_id"])
    assert replay.headers.get("Idempotent-Replayed") == "true"

    short = await redeem(api, tenant, customer, 50)
    assert short.status_code == 409, short.text
    problem = short.json()
    assert (problem["reason"], problem["balance"], problem["requested_points"]) == (
        "INSUFFICIENT_POINTS",
        49,
        50,
    )

    ledger = (await api.get(f"/v1/customers/{customer}/points/ledger", headers=tenant.headers)).json()
    assert [(e["type"], e["delta"], e["balance_after"]) for e in ledger["items"]] == [
        ("redeem", -150, 49),
        ("earn", 199, 199),
    ]


async def test_refunds_take_back_in_proportion_and_spent_points_become_debt(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    customer = await new_customer(api, tenant)
    order_id = await pay(api, tenant, customer, 10_000)  # 100 points
    await wait_for_balance(api, tenant, customer, 100)
    refund = {"refund_id": "RF-1", "amount_minor": 2_550}
    assert (await api.post(f"/v1/orders/{order_id}/refunds", json=refund, headers=tenant.headers)).is_success
    await wait_for_balance(api, tenant, customer, 75)  # floor(100 x 25.5 %) = 25 taken back
    assert (await redeem(api, tenant, customer, 70)).status_code == 201
    rest = {"refund_id": "RF-2", "amount_minor": 7_450}
    assert (await api.post(f"/v1/orders/{order_id}/refunds", json=rest, headers=tenant.headers)).is_success
    await wait_for_balance(api, tenant, customer, 0)
    assert (await points(api, tenant, customer))["debt"] == 70  # 75 due, 5 there
    await pay(api, tenant, customer, 10_000)
    await wait_for_balance(api, tenant, customer, 30)  # the new 100 repay the 70 first
    assert (await points(api, tenant, customer))["debt"] == 0


async def test_adjustments_sign_ins_and_reports(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = await new_customer(api, tenant)
    url = f"/v1/customers/{customer}/points/adjustments"
    credit = await api.post(url, json={"points": 40, "reason": "goodwill"}, headers=tenant.headers)
    assert (credit.status_code, credit.json()["balance"]) == (201, 40)
    debit = await api.post(url, json={"points": -15, "reason": "correction"}, headers=tenant.headers)
    assert (debit.status_code, debit.json()["balance"]) == (201, 25)
    over = await api.post(url, json={"points": -26, "reason": "too much"}, headers=tenant.headers)
    assert over.status_code == 409

    first = await api.post(f"/v1/customers/{customer}/sign-ins", headers=tenant.headers)
    second = await api.post(f"/v1/customers/{customer}/sign-ins", headers=tenant.headers)
    # Issue 18 item 7: the first sign-in of the day is 201, a repeat 200 awarding 0 (was 200 and 5).
    assert (first.status_code, second.status_code) == (201, 200)
    assert (first.json()["points_awarded"], first.json()["streak"], first.json()["already_signed_in"]) == (
        5,
        1,
        False,
    )
    assert (second.json()["points_awarded"], second.json()["already_signed_in"]) == (0, True)
    assert second.json()["awarded_today"] == first.json()["awarded_today"] == 5
    assert (await points(api, tenant, customer))["balance"] == 30

    liability = (await api.get("/v1/loyalty/reports/liability", headers=tenant.headers)).json()
    assert (liability["outstanding_points"], liability["value_minor"], liability["currency"]) == (
        30,
        30,
        "CNY",
    )
    today = first.json()["local_date"]
    daily = await api.get(f"/v1/loyalty/reports/daily?from={today}&to={today}", headers=tenant.headers)
    assert daily.status_code == 200, daily.text
    assert [(d["earned"], d["adjusted_down"], d["redeemed"]) for d in daily.json()["items"]] == [(45, 15, 0)]
    backwards = await api.get(
        "/v1/loyalty/reports/daily?from=2026-02-01&to=2026-01-01", headers=tenant.headers
    )
    assert (backwards.status_code, [e["field"] for e in backwards.json()["errors"]]) == (422, ["to"])


async def test_bad_movements_are_422_naming_the_field(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = await new_customer(api, tenant)
    base = f"/v1/customers/{customer}/points"
    cases = [
        ("/redemptions", {"points": 0, "reason": "x"}, {"points"}),
        ("/redemptions", {"points": 5, "reason": ""}, {"reason"}),
        ("/redemptions", {"points": -5, "reason": " "}, {"points", "reason"}),
        ("/redemptions", {"points": "5", "reason": "x"}, {"points"}),
        ("/redemptions", {"points": 5}, {"reason"}),
        ("/adjustments", {"points": 0, "reason": "x"}, {"points"}),
        ("/adjustments", {"points": 2**64, "reason": "x"}, {"points"}),
    ]
    for path, body, fields in cases:
        response = await api.post(base + path, json=body, headers=tenant.headers)
        assert response.status_code == 422, (path, body, response.text)
        assert {e["field"] for e in response.json()["errors"]} == fields, (body, response.text)
    assert (await points(api, tenant, customer))["balance"] == 0


async def test_another_tenants_customer_is_not_found(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    customer = await new_customer(api, tenant)
    await api.post(
        f"/v1/customers/{customer}/points/adjustments",
        json={"points": 10, "reason": "r"},
        headers=tenant.headers,
    )
    for method, path, body in [
        ("GET", f"/v1/customers/{customer}/points", None),
        ("GET", f"/v1/customers/{customer}/points/ledger", None),
        ("POST", f"/v1/customers/{customer}/points/redemptions", {"points": 1, "reason": "r"}),
        ("POST", f"/v1/customers/{customer}/points/adjustments", {"points": 1, "reason": "r"}),
        ("POST", f"/v1/customers/{customer}/sign-ins", None),
        ("GET", f"/v1/customers/{uuid.uuid4()}/points", None),
        ("GET", "/v1/customers/not-a-uuid/points", None),
    ]:
        response = await api.request(method, path, json=body, headers=other_tenant.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert (await points(api, tenant, customer))["balance"] == 10
    liability = (await api.get("/v1/loyalty/reports/liability", headers=other_tenant.headers)).json()
    assert liability["outstanding_points"] == 0


async def test_expiring_points_are_listed_for_reminders(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    program = (await api.get("/v1/loyalty/program", headers=tenant.headers)).json()
    del program["version"]
    program["expiry"] = {"kind": "months_after_earn", "months": 1}
    assert (await api.put("/v1/loyalty/program", json=program, headers=tenant.headers)).status_code == 200
    customer = await new_customer(api, tenant)
    await api.post(
        f"/v1/customers/{customer}/points/adjustments",
        json={"points": 12, "reason": "r"},
        headers=tenant.headers,
    )
    assert (await points(api, tenant, customer))["expiring_30d"] == 0  # valid through next month
    page = (await api.get("/v1/loyalty/points/expiring?days=40", headers=tenant.headers)).json()
    assert [(c["customer_id"], c["points"]) for c in page["items"]] == [(customer, 12)]
    assert (await api.get("/v1/loyalty/points/expiring?days=0", headers=tenant.headers)).status_code == 422

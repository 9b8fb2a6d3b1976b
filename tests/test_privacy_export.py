"""Issue 15 item 8: a customer's export gathers every service's data through the real gateway and
services — profile's, loyalty's (points, ledger, coupons, membership), scoring's (grades, lifecycle,
predictions, segments) and notify's (a message sent to a real SMTP server) — and is never answered in
part: a service that is down makes it a 503 naming the service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from services.runtime.server import ServiceServer
from tests.conftest import TenantKey, create_tenant, gateway_client, gateway_settings
from tests.notify_peers import SmtpPeer
from tests.support import start_service
from tests.test_coupons import issue
from tests.test_coupons import template as coupon_template
from tests.test_loyalty_api import pay, redeem, wait_for_balance
from tests.test_notify_messages_api import consent, email_channel, eventually, message, send, template
from tests.test_scoring_api import run


async def identify(api: httpx.AsyncClient, tenant: TenantKey, email: str, **attributes: str) -> str:
    body = {
        "identities": [{"type": "email", "value": email}],
        "attributes": {"timezone": "UTC", **attributes},
    }
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["customer_id"])


def order_body(order_id: str, days_ago: int, amount: int, **who: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "paid_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(),
        "currency": "CNY",
        "amount_minor": amount,
        "items": [{"sku": "TEA-1", "category": "tea", "unit_price_minor": amount, "quantity": 1}],
        **who,
    }


async def exported(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/customers/{customer_id}/export", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# Purchase days (days ago) of 30 customers, drawn once from a BG/NBD process (seed 5): a history the
# tenant's models fit (lifetimes-style BG/NBD and Gamma-Gamma), so the run writes predictions.
COHORT = [
    (81, 78, 2), (54,), (289, 288, 277), (266, 235, 64), (140, 129, 128, 125), (277, 264, 224, 79),
    (274, 260), (141, 124), (215, 193), (197,), (210, 168, 111, 89), (167, 36), (45, 35, 20, 13), (303,),
    (327, 321, 308, 268, 254, 242), (119, 81, 60, 48, 26), (262, 259), (40, 38, 29, 21, 16, 12, 3),
    (352, 339, 267), (113,), (263, 230), (325, 271, 231, 212, 209, 100, 40), (110, 81), (290, 254, 250, 248),
    (299, 272), (41,), (272, 264, 189, 172, 171, 166, 121, 109, 25, 2), (298, 278, 271, 241), (111, 106),
    (61, 36),
]  # fmt: skip


async def a_fitted_cohort(
    api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, scoring_url: str
) -> None:
    """The cohort's orders and the customer's (three in all), then a scoring run once scoring holds
    every order: RFM grades, lifecycle stages and predictions."""
    config = {"predictions": {"min_model_customers": 20}, "schedule": {"enabled": False}}
    response = await api.put("/v1/scoring/config", json=config, headers=tenant.headers)
    assert response.status_code == 200, response.text
    orders = [
        order_body(
            f"C-{n}-{k}",
            day,
            3_000 + 1_700 * n + 900 * k,
            identities=[{"type": "email", "value": f"buyer{n}@example.com"}],
        )
        for n, days in enumerate(COHORT)
        for k, day in enumerate(days)
    ] + [order_body(f"MEI-{k}", day, amount, customer_id=customer_id) for k, (day, amount) in enumerate(
        ((280, 12_000), (140, 25_000))
    )]  # fmt: skip
    response = await api.post("/v1/orders/batch", json={"orders": orders}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(orders), response.text
    scoring = await asyncpg.connect(scoring_url)
    try:
        held = await eventually(
            lambda: scoring.fetchval(
                "SELECT count(*) FROM orders WHERE tenant_id = $1", uuid.UUID(tenant.tenant_id)
            ),
            lambda count: count == len(orders) + 1,
        )
    finally:
        await scoring.close()
    assert held == len(orders) + 1
    await run(api, tenant)


async def test_the_export_gathers_every_services_data(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    customer_id = await identify(api, tenant, "mei@example.com", nickname="Mei", city="Suzhou")
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        await consent(api, tenant, customer_id)
        template_id = await template(api, tenant)
        queued = await send(api, tenant, customer_id, template_id)
        sent = await eventually(
            lambda: message(api, tenant, queued["message_id"]), lambda m: m["status"] == "sent"
        )
        assert sent["status"] == "sent", sent

    await pay(api, tenant, customer_id, 25_000, "EXPORT-1")
    await wait_for_balance(api, tenant, customer_id, 250)
    assert (await redeem(api, tenant, customer_id, 50)).status_code == 201
    coupons = await coupon_template(api, tenant, kind="no_threshold", discount_minor=500)
    issued = await issue(api, tenant, customer_id, coupons["template_id"])
    assert issued.status_code == 201, issued.text
    segment = await api.post(
        "/v1/segments",
        json={"name": "Suzhou", "condition": {"field": "attributes.city", "op": "eq", "value": "Suzhou"}},
        headers=tenant.headers,
    )
    assert segment.status_code == 201, segment.text
    await a_fitted_cohort(api, tenant, customer_id, database_urls["scoring"])
    await wait_for_balance(api, tenant, customer_id, 200 + 120 + 250)

    whole = await exported(api, tenant, customer_id)

    # profile, at the top level as before
    assert whole["customer_id"] == customer_id
    assert whole["attributes"]["nickname"] == "Mei"
    assert [i["value"] for i in whole["identities"]] == ["mei@example.com"]
    assert {o["order_id"] for o in whole["orders"]} >= {"EXPORT-1"}
    # loyalty: the balance and every ledger entry behind it, the coupon, the membership
    loyalty = whole["loyalty"]
    assert loyalty["points"]["balance"] == 570
    assert sum(e["delta"] for e in loyalty["ledger"]) == 570
    assert sorted(e["type"] for e in loyalty["ledger"]) == ["earn", "earn", "earn", "redeem"]
    assert [e["reason"] for e in loyalty["ledger"] if e["type"] == "redeem"] == ["gift"]
    assert [c["code"] for c in loyalty["coupons"]] == [issued.json()["code"]]
    assert loyalty["coupons"][0]["template_kind"] == "no_threshold"
    assert {o["order_id"] for o in loyalty["order_points"]} >= {"EXPORT-1"}
    assert set(loyalty) >= {"membership", "tier_history", "membership_facts", "point_lots", "sign_ins"}
    # scoring: features, grades, lifecycle, predictions, the segment
    scoring = whole["scoring"]
    assert scoring["customer"]["city"] == "Suzhou"
    assert scoring["scores"]["order_count"] == 3
    assert {scoring["scores"][k] is not None for k in ("r", "f", "m", "rfm_group")} == {True}
    assert scoring["scores"]["lifecycle_stage"] in {"growth", "mature", "decline", "churned"}
    assert scoring["predictions"] is not None, (
        await api.get("/v1/scoring/models", headers=tenant.headers)
    ).text
    assert 0 <= scoring["predictions"]["p_alive"] <= 1
    assert [s["segment_id"] for s in scoring["segments"]] == [segment.json()["segment_id"]]
    assert len(scoring["orders"]) == 3
    # notify: the message with its channel, template, status and times; the consent
    notify = whole["notify"]
    assert [(m["message_id"], m["channel"], m["template_id"], m["status"]) for m in notify["messages"]] == [
        (queued["message_id"], "email", template_id, "sent")
    ]
    assert notify["messages"][0]["sent_at"].endswith("Z")
    assert [(c["channel"], c["granted"]) for c in notify["consents"]] == [("email", True)]
    assert set(notify) >= {"suppressions", "journeys", "journey_steps", "campaigns", "campaign_orders"}


async def test_an_export_without_a_service_is_503_naming_it_never_partial(
    services: dict[str, ServiceServer], database_urls: dict[str, str]
) -> None:
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    loyalty = await start_service(
        "loyalty", database_urls["loyalty"], consumer_lease_seconds=1.0, profile_address=addresses["profile"]
    )
    routes = {**addresses, "loyalty": f"127.0.0.1:{loyalty.bound_port}"}
    try:
        async with gateway_client(gateway_settings(routes, api_key_cache_seconds=0)) as api:
            shop = await create_tenant(api, "Outage export")
            customer_id = await identify(api, shop, "down@example.com")
            assert set(await exported(api, shop, customer_id)) >= {"loyalty", "scoring", "notify"}

            await loyalty.stop(grace=1)
            response = await api.get(f"/v1/customers/{customer_id}/export", headers=shop.headers)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["reason"] == "EXPORT_INCOMPLETE"
            assert problem["services"] == {"loyalty": "UNAVAILABLE"}
            assert "loyalty" in problem["detail"]
            assert "orders" not in problem
            assert "customer_id" not in problem

            # The erasure still happens (profile is up); its status says loyalty is unknown, not a 5xx.
            assert (await api.delete(f"/v1/customers/{customer_id}", headers=shop.headers)).status_code == 200
            status = await api.get(f"/v1/customers/{customer_id}/erasure", headers=shop.headers)
            assert status.status_code == 200, status.text
            assert status.json()["loyalty"] == {
                "status": "unknown",
                "erased_at": None,
                "reason": "UNAVAILABLE",
            }
            assert status.json()["status"] == "unknown"
            assert status.json()["profile"]["status"] == "done"
    finally:
        await loyalty.stop(grace=0)


async def test_an_export_of_a_customer_nobody_else_knows_has_empty_sections(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    customer_id = await identify(api, tenant, "quiet@example.com")
    whole = await exported(api, tenant, customer_id)
    assert whole["loyalty"]["points"] == {"balance": 0, "debt": 0}
    assert whole["loyalty"]["ledger"] == []
    assert whole["loyalty"]["membership"] is None
    assert whole["notify"]["messages"] == []
    assert whole["scoring"]["predictions"] is None
    for path in (f"/v1/customers/{customer_id}/export", f"/v1/customers/{uuid.uuid4()}/export"):
        response = await api.get(path, headers=other_tenant.headers)
        assert response.status_code == 404, response.text

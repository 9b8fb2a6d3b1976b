"""Tenants are walls for scoring and loyalty too: another tenant's key, walked over every scoring,
loyalty and batch endpoint with the first tenant's ids, sees 404 or only its own (empty or default)
data — never the owner's — and changes nothing of the owner's."""

import asyncio
import uuid
from typing import Any

import httpx

from tests.conftest import TenantKey
from tests.test_segment_exports_api import done_export, identify, living_in, saved_segment

# Every scoring, loyalty and batch path of the public API (tests/test_profile_tenancy.py checks that
# this set and its own cover the whole OpenAPI document).
WALKED = {
    ("post", "/v1/orders/batch"),
    ("post", "/v1/refunds/batch"),
    ("get", "/v1/customers/{customer_id}/scores"),
    ("get", "/v1/customers/{customer_id}/360"),
    ("get", "/v1/scoring/rfm"),
    ("get", "/v1/scoring/lifecycle"),
    ("get", "/v1/scoring/config"),
    ("put", "/v1/scoring/config"),
    ("post", "/v1/scoring/runs"),
    ("get", "/v1/scoring/runs/{run_id}"),
    ("get", "/v1/scoring/models"),
    ("post", "/v1/segments/preview"),
    ("post", "/v1/segments"),
    ("get", "/v1/segments"),
    ("get", "/v1/segments/{segment_id}"),
    ("put", "/v1/segments/{segment_id}"),
    ("delete", "/v1/segments/{segment_id}"),
    ("get", "/v1/segments/{segment_id}/members"),
    ("get", "/v1/segments/{segment_id}/sizes"),
    ("get", "/v1/customers/{customer_id}/segments"),
    ("post", "/v1/segments/{segment_id}/exports"),
    ("get", "/v1/segments/{segment_id}/exports/{export_id}"),
    ("get", "/v1/segments/{segment_id}/exports/{export_id}/csv"),
    ("get", "/v1/loyalty/program"),
    ("put", "/v1/loyalty/program"),
    ("get", "/v1/customers/{customer_id}/points"),
    ("get", "/v1/customers/{customer_id}/points/ledger"),
    ("post", "/v1/customers/{customer_id}/points/redemptions"),
    ("post", "/v1/customers/{customer_id}/points/adjustments"),
    ("post", "/v1/customers/{customer_id}/sign-ins"),
    ("get", "/v1/loyalty/points/expiring"),
    ("get", "/v1/loyalty/reports/liability"),
    ("get", "/v1/loyalty/reports/daily"),
    ("get", "/v1/customers/{customer_id}/membership"),
    ("get", "/v1/customers/{customer_id}/membership/history"),
    ("post", "/v1/coupon-templates"),
    ("get", "/v1/coupon-templates"),
    ("get", "/v1/coupon-templates/{template_id}"),
    ("post", "/v1/customers/{customer_id}/coupons"),
    ("get", "/v1/customers/{customer_id}/coupons"),
    ("post", "/v1/customers/{customer_id}/coupons/exchange"),
    ("post", "/v1/coupons/{code}/redeem"),
    ("post", "/v1/notify/webhooks"),
    ("get", "/v1/notify/webhooks"),
    ("get", "/v1/notify/webhooks/{webhook_id}"),
    ("delete", "/v1/notify/webhooks/{webhook_id}"),
    ("post", "/v1/notify/webhooks/{webhook_id}/enable"),
    ("get", "/v1/notify/webhooks/{webhook_id}/deliveries"),
}


async def _eventually(check: Any, seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the consumers did not catch up in time")


async def _seed(api: httpx.AsyncClient, owner: TenantKey) -> dict[str, str]:
    """A customer of ``owner`` with a paid order (points, scores), a coupon template, a coupon, a run."""
    h = owner.headers
    body = {"identities": [{"type": "phone", "value": "13800007777"}]}
    customer = (await api.post("/v1/customers/identify", json=body, headers=h)).json()["customer_id"]
    order = {
        "order_id": "VALUE-1",
        "customer_id": customer,
        "paid_at": "2026-01-02T00:00:00Z",
        "currency": "CNY",
        "amount_minor": 50000,
        "items": [{"sku": "s", "unit_price_minor": 50000, "quantity": 1}],
    }
    assert (await api.post("/v1/orders", json=order, headers=h)).status_code == 201

    async def earned() -> bool:
        points = await api.get(f"/v1/customers/{customer}/points", headers=h)
        return points.status_code == 200 and points.json()["balance"] == 500

    await _eventually(earned)
    template = {"kind": "no_threshold", "discount_minor": 500, "valid_days": 30, "points_price": 10}
    created = await api.post("/v1/coupon-templates", json=template, headers=h)
    assert created.status_code == 201, created.text
    template_id = created.json()["template_id"]
    issued = await api.post(f"/v1/customers/{customer}/coupons", json={"template_id": template_id}, headers=h)
    assert issued.status_code in (200, 201), issued.text
    run = await api.post("/v1/scoring/runs", json={}, headers=h)
    run_id = run.json().get("run_id") or run.json().get("running_run_id")
    assert run_id, run.text
    return {
        "customer_id": customer,
        "template_id": template_id,
        "code": issued.json()["code"],
        "run_id": run_id,
    }


async def _preview_counts_the_owners_customers_only(
    api: httpx.AsyncClient, owner: TenantKey, intruder: dict[str, str], customer: str
) -> None:
    """A segment preview under the intruder's key never counts (nor samples) the owner's customer."""
    buyers = {"condition": {"field": "orders.count", "op": "gte", "value": 1}}
    everyone = {"condition": {"not": {"field": "attributes.gender", "op": "eq", "value": "other"}}}

    async def owner_counts() -> bool:
        answer = await api.post("/v1/segments/preview", json=buyers, headers=owner.headers)
        return answer.status_code == 200 and answer.json() == {"count": 1, "sample": [customer]}

    await _eventually(owner_counts)
    for body in (buyers, everyone):
        answer = await api.post("/v1/segments/preview", json=body, headers=intruder)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"count": 0, "sample": []}, body


async def _saved_segments_answer_404(
    api: httpx.AsyncClient, owner: TenantKey, intruder: dict[str, str], customer: str
) -> None:
    """The owner's saved segment (with the customer as a member) is 404 under the intruder's key on
    every route, the intruder's list and its segment of the same name hold none of the owner's."""
    buyers = {"name": "Buyers", "condition": {"field": "orders.count", "op": "gte", "value": 1}}
    created = await api.post("/v1/segments", json=buyers, headers=owner.headers)
    assert created.status_code == 201, created.text
    assert created.json()["count"] == 1, created.text
    path = f"/v1/segments/{created.json()['segment_id']}"
    for method, target in (
        ("get", path),
        ("put", path),
        ("delete", path),
        ("get", f"{path}/members"),
        ("get", f"{path}/sizes"),
        ("get", f"/v1/customers/{customer}/segments"),
    ):
        body = buyers if method == "put" else None
        response = await api.request(method, target, json=body, headers=intruder)
        assert response.status_code == 404, (method, target, response.status_code, response.text)
    assert (await api.get("/v1/segments", headers=intruder)).json()["items"] == []
    theirs = await api.post("/v1/segments", json=buyers, headers=intruder)
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["count"] == 0
    assert (await api.get(path, headers=owner.headers)).json()["name"] == "Buyers"


async def test_another_tenant_sees_nothing_of_scores_points_or_coupons(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    ids = await _seed(api, tenant)
    c, template_id, code, run_id = ids["customer_id"], ids["template_id"], ids["code"], ids["run_id"]
    intruder = other_tenant.headers
    not_found: list[tuple[str, str, dict[str, Any] | None]] = [
        ("get", f"/v1/customers/{c}/scores", None),
        ("get", f"/v1/customers/{c}/360", None),
        ("get", f"/v1/scoring/runs/{run_id}", None),
        ("get", f"/v1/customers/{c}/points", None),
        ("get", f"/v1/customers/{c}/points/ledger", None),
        ("post", f"/v1/customers/{c}/points/redemptions", {"points": 1, "reason": "steal"}),
        ("post", f"/v1/customers/{c}/points/adjustments", {"points": 1000, "reason": "gift"}),
        ("post", f"/v1/customers/{c}/sign-ins", None),
        ("get", f"/v1/customers/{c}/membership", None),
        ("get", f"/v1/customers/{c}/membership/history", None),
        ("get", f"/v1/coupon-templates/{template_id}", None),
        ("post", f"/v1/customers/{c}/coupons", {"template_id": template_id}),
        ("get", f"/v1/customers/{c}/coupons", None),
        ("post", f"/v1/customers/{c}/coupons/exchange", {"template_id": template_id}),
        ("post", f"/v1/coupons/{code}/redeem", {"order_id": "X-1", "amount_minor": 10000}),
        ("get", "/v1/scoring/models", None),  # the intruder has no model of its own either
    ]
    for method, path, body in not_found:
        response = await api.request(method, path, json=body, headers=intruder)
        assert response.status_code == 404, (method, path, response.status_code, response.text)

    # Tenant-wide reads show the intruder's own (empty or default) data, never the owner's.
    templates = (await api.get("/v1/coupon-templates", headers=intruder)).json()["items"]
    assert templates == []
    rfm = (await api.get("/v1/scoring/rfm", headers=intruder)).json()
    assert template_id not in str(rfm)
    assert c not in str(rfm)
    lifecycle = (await api.get("/v1/scoring/lifecycle", headers=intruder)).json()
    assert c not in str(lifecycle)
    liability = (await api.get("/v1/loyalty/reports/liability", headers=intruder)).json()
    assert liability["outstanding_points"] == 0, liability
    expiring = await api.get("/v1/loyalty/points/expiring", headers=intruder)
    assert expiring.status_code == 200
    assert c not in expiring.text
    daily = await api.get("/v1/loyalty/reports/daily?from=2026-01-01&to=2026-12-31", headers=intruder)
    assert daily.status_code == 200
    assert "500" not in str([d.get("earned") for d in daily.json()["items"]])
    assert (await api.get("/v1/loyalty/program", headers=intruder)).json()["version"] == 0
    assert (await api.get("/v1/scoring/config", headers=intruder)).status_code == 200
    await _preview_counts_the_owners_customers_only(api, tenant, intruder, c)
    await _saved_segments_answer_404(api, tenant, intruder, c)

    # Writes under the intruder's key land in the intruder's tenant only.
    program = (await api.get("/v1/loyalty/program", headers=intruder)).json()
    program.pop("version", None)
    put = await api.put("/v1/loyalty/program", json=program, headers=intruder)
    assert put.status_code in (200, 422), put.text
    config = (await api.get("/v1/scoring/config", headers=intruder)).json()
    assert (await api.put("/v1/scoring/config", json=config, headers=intruder)).status_code in (200, 422)
    own_run = await api.post("/v1/scoring/runs", json={}, headers=intruder)
    assert own_run.status_code in (202, 409), own_run.text
    foreign_orders = {
        "orders": [
            {
                "order_id": "VALUE-X",
                "customer_id": c,
                "paid_at": "2026-01-02T00:00:00Z",
                "currency": "CNY",
                "amount_minor": 1,
                "items": [{"sku": "s", "unit_price_minor": 1, "quantity": 1}],
            }
        ]
    }
    batch = (await api.post("/v1/orders/batch", json=foreign_orders, headers=intruder)).json()
    assert batch["accepted"] == 0, batch
    assert len(batch["rejected"]) == 1, batch
    refunds = {"refunds": [{"order_id": "VALUE-1", "refund_id": "R-X", "amount_minor": 1}]}
    refunded = await api.post("/v1/refunds/batch", json=refunds, headers=intruder)
    assert refunded.status_code in (200, 422), refunded.text
    if refunded.status_code == 200:
        assert refunded.json()["accepted"] == 0, refunded.text

    # Nothing of the owner's changed.
    points = (await api.get(f"/v1/customers/{c}/points", headers=tenant.headers)).json()
    assert points["balance"] == 500
    coupons = (await api.get(f"/v1/customers/{c}/coupons", headers=tenant.headers)).json()["items"]
    assert [(item["code"], item["status"]) for item in coupons] == [(code, "available")]
    order = (await api.get("/v1/orders/VALUE-1", headers=tenant.headers)).json()
    assert order["remaining_minor"] == 50000, order


async def test_another_tenant_cannot_start_see_or_read_a_segment_export(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    """The owner's segment and export ids answer 404 to another tenant, and the intruder's own
    segment with the owner's export id too; the owner's export is untouched."""
    city = f"Census-{uuid.uuid4().hex[:8]}"
    member = await identify(api, tenant, ("phone", "13800007778"), city=city)
    segment = await saved_segment(api, tenant, living_in(city), 1)
    started = await api.post(f"/v1/segments/{segment}/exports", headers=tenant.headers)
    assert started.status_code == 202, started.text
    export = started.json()["export_id"]
    await done_export(api, tenant, segment, export)
    theirs = await saved_segment(api, other_tenant, living_in(city), 0)
    intruder = other_tenant.headers
    for method, path in (
        ("post", f"/v1/segments/{segment}/exports"),
        ("get", f"/v1/segments/{segment}/exports/{export}"),
        ("get", f"/v1/segments/{segment}/exports/{export}/csv"),
        ("get", f"/v1/segments/{theirs}/exports/{export}"),
        ("get", f"/v1/segments/{theirs}/exports/{export}/csv"),
    ):
        response = await api.request(method, path, headers=intruder)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
    own = await api.get(f"/v1/segments/{segment}/exports/{export}/csv", headers=tenant.headers)
    assert own.status_code == 200
    assert own.text.splitlines()[1].startswith(member)


async def test_another_tenant_cannot_see_touch_or_read_the_log_of_a_webhook(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    """The owner's webhook answers 404 to another tenant on every route; the intruder's list and its
    own webhook hold nothing of the owner's; the owner's webhook is untouched."""
    body = {"url": "http://127.0.0.1:9/census", "events": ["message.sent"]}
    created = await api.post("/v1/notify/webhooks", json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    path = f"/v1/notify/webhooks/{created.json()['webhook_id']}"
    intruder = other_tenant.headers
    for method, target in (
        ("get", path),
        ("delete", path),
        ("post", f"{path}/enable"),
        ("get", f"{path}/deliveries"),
    ):
        response = await api.request(method, target, headers=intruder)
        assert response.status_code == 404, (method, target, response.status_code, response.text)
    assert (await api.get("/v1/notify/webhooks", headers=intruder)).json()["items"] == []
    theirs = await api.post("/v1/notify/webhooks", json=body, headers=intruder)
    assert theirs.status_code == 201, theirs.text
    listed = (await api.get("/v1/notify/webhooks", headers=intruder)).json()["items"]
    assert [w["webhook_id"] for w in listed] == [theirs.json()["webhook_id"]]
    own = await api.get(path, headers=tenant.headers)
    assert own.status_code == 200
    assert own.json()["enabled"] is True

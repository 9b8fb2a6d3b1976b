"""The customer timeline merges behaviour events, orders, refunds, tag and consent changes, newest first."""

import httpx

from tests.conftest import TenantKey


async def test_timeline_merges_everything_newest_first_with_pages(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    identities = [{"type": "app_user_id", "value": "timeline-1"}]
    customer = (
        await api.post("/v1/customers/identify", json={"identities": identities}, headers=tenant.headers)
    ).json()["customer_id"]
    events = {
        "events": [
            {
                "event_id": "tl-view",
                "type": "view",
                "occurred_at": "2026-01-01T10:00:00+08:00",
                "customer_id": customer,
            },
            {
                "event_id": "tl-cart",
                "type": "add_to_cart",
                "occurred_at": "2026-01-02T10:00:00+08:00",
                "customer_id": customer,
            },
        ]
    }
    assert (await api.post("/v1/events", json=events, headers=tenant.headers)).status_code == 200
    order = {
        "order_id": "TL-1",
        "customer_id": customer,
        "paid_at": "2026-01-03T10:00:00+08:00",
        "currency": "CNY",
        "amount_minor": 19900,
        "items": [{"sku": "tea-1", "unit_price_minor": 19900, "quantity": 1}],
    }
    assert (await api.post("/v1/orders", json=order, headers=tenant.headers)).status_code == 201
    refund = {"refund_id": "TL-R1", "amount_minor": 5000, "reason": "尺寸不符"}
    assert (await api.post("/v1/orders/TL-1/refunds", json=refund, headers=tenant.headers)).status_code == 201
    consent = {"channel": "sms", "purpose": "marketing", "granted": True, "source": "checkout"}
    assert (
        await api.put(f"/v1/customers/{customer}/consents", json=consent, headers=tenant.headers)
    ).status_code == 200
    group = (
        await api.post("/v1/tag-groups", json={"kind": "static", "name": "Timeline"}, headers=tenant.headers)
    ).json()
    tag = (
        await api.post(
            "/v1/tags", json={"group_id": group["group_id"], "name": "VIP"}, headers=tenant.headers
        )
    ).json()
    assert (
        await api.put(f"/v1/customers/{customer}/tags/{tag['tag_id']}", json={}, headers=tenant.headers)
    ).status_code == 200

    kinds: list[str] = []
    cursor = ""
    while True:
        params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (
            await api.get(f"/v1/customers/{customer}/timeline", params=params, headers=tenant.headers)
        ).json()
        kinds += [item["kind"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert set(kinds) == {
        "customer.created",
        "event.view",
        "event.add_to_cart",
        "order.paid",
        "order.refunded",
        "consent.changed",
        "tag.changed",
    }
    assert len(kinds) == 7
    assert kinds[-3:] == ["order.paid", "event.add_to_cart", "event.view"]  # back-dated ones come last
    assert (
        await api.get(f"/v1/customers/{customer}/timeline", headers=other_tenant.headers)
    ).status_code == 404
    bad = await api.get(f"/v1/customers/{customer}/timeline", params={"cursor": "zz"}, headers=tenant.headers)
    assert bad.status_code == 422

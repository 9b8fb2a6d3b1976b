"""Tenants are walls: a second tenant's key, walked over every profile endpoint with the first
tenant's ids, sees 404 or an empty list — never data, and changes nothing."""

import uuid
from typing import Any

import httpx

from tests.conftest import TenantKey
from tests.test_api_keys import WALKED as KEYS_WALKED
from tests.test_audit import WALKED as AUDIT_WALKED
from tests.test_kpis_api import WALKED as KPIS_WALKED
from tests.test_merge_suggestions import WALKED as SUGGESTIONS_WALKED
from tests.test_notify_tenancy import WALKED as NOTIFY_WALKED
from tests.test_operators import WALKED as OPERATORS_WALKED
from tests.test_value_tenancy import WALKED as VALUE_WALKED

# Every profile path of the public API; the test fails when an endpoint is added and not walked here.
WALKED = {
    ("post", "/v1/customers/identify"),
    ("get", "/v1/customers"),
    ("get", "/v1/customers/{customer_id}"),
    ("patch", "/v1/customers/{customer_id}"),
    ("delete", "/v1/customers/{customer_id}"),
    ("post", "/v1/customers/{customer_id}/merge"),
    ("get", "/v1/customers/{customer_id}/export"),
    ("get", "/v1/customers/{customer_id}/erasure"),
    ("get", "/v1/customers/{customer_id}/timeline"),
    ("post", "/v1/events"),
    ("get", "/v1/customers/{customer_id}/events"),
    ("post", "/v1/orders"),
    ("post", "/v1/orders/{order_id}/refunds"),
    ("get", "/v1/orders/{order_id}"),
    ("get", "/v1/customers/{customer_id}/orders"),
    ("get", "/v1/tag-groups"),
    ("post", "/v1/tag-groups"),
    ("get", "/v1/tag-groups/{group_id}"),
    ("patch", "/v1/tag-groups/{group_id}"),
    ("delete", "/v1/tag-groups/{group_id}"),
    ("get", "/v1/tags"),
    ("post", "/v1/tags"),
    ("get", "/v1/tags/{tag_id}"),
    ("patch", "/v1/tags/{tag_id}"),
    ("delete", "/v1/tags/{tag_id}"),
    ("put", "/v1/customers/{customer_id}/tags/{tag_id}"),
    ("delete", "/v1/customers/{customer_id}/tags/{tag_id}"),
    ("get", "/v1/customers/{customer_id}/tags"),
    ("get", "/v1/customers/{customer_id}/consents"),
    ("put", "/v1/customers/{customer_id}/consents"),
    ("get", "/v1/customers/{customer_id}/consents/history"),
}
NOT_TENANT_SCOPED = {
    "/healthz",
    "/readyz",
    "/v1/admin/tenants",
    "/v1/admin/tenants/{tenant_id}/api-keys",
    "/v1/admin/tenants/{tenant_id}/operators",
    # The operator's own session: the sign-in names its tenant, the others act on the caller's session
    # only (tests/test_sessions.py shows a session of one tenant sees nothing of another).
    "/v1/session",
}


async def _seed(api: httpx.AsyncClient, owner: TenantKey) -> dict[str, str]:
    """A customer of ``owner`` with an event, an order, a tag and a consent."""
    h = owner.headers
    body = {"identities": [{"type": "phone", "value": "13800009999"}], "attributes": {"nickname": "Owner"}}
    customer = (await api.post("/v1/customers/identify", json=body, headers=h)).json()["customer_id"]
    event = {
        "event_id": "walk-1",
        "type": "view",
        "occurred_at": "2026-01-01T00:00:00Z",
        "customer_id": customer,
    }
    assert (await api.post("/v1/events", json={"events": [event]}, headers=h)).json()["accepted"] == 1
    order = {
        "order_id": "WALK-1",
        "customer_id": customer,
        "paid_at": "2026-01-02T00:00:00Z",
        "currency": "CNY",
        "amount_minor": 1000,
        "items": [{"sku": "s", "unit_price_minor": 1000, "quantity": 1}],
    }
    assert (await api.post("/v1/orders", json=order, headers=h)).status_code == 201
    group = (await api.post("/v1/tag-groups", json={"kind": "static", "name": "Walk"}, headers=h)).json()[
        "group_id"
    ]
    tag = (await api.post("/v1/tags", json={"group_id": group, "name": "Walked"}, headers=h)).json()["tag_id"]
    assert (await api.put(f"/v1/customers/{customer}/tags/{tag}", json={}, headers=h)).status_code == 200
    consent = {"channel": "email", "purpose": "marketing", "granted": True}
    assert (await api.put(f"/v1/customers/{customer}/consents", json=consent, headers=h)).status_code == 200
    return {"customer_id": customer, "order_id": "WALK-1", "group_id": group, "tag_id": tag}


async def test_another_tenant_sees_nothing_anywhere(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    ids = await _seed(api, tenant)
    spec = (await api.get("/openapi.json")).json()
    documented = {
        (method, path)
        for path, operations in spec["paths"].items()
        if path not in NOT_TENANT_SCOPED
        for method in operations
    }
    walked = (
        WALKED
        | VALUE_WALKED
        | NOTIFY_WALKED
        | KEYS_WALKED
        | OPERATORS_WALKED
        | AUDIT_WALKED
        | SUGGESTIONS_WALKED
        | KPIS_WALKED
    )
    assert documented == walked, "walk the new endpoints here, in test_value_tenancy or test_notify_tenancy"

    intruder = other_tenant.headers
    c, o, g, t = ids["customer_id"], ids["order_id"], ids["group_id"], ids["tag_id"]
    theirs = (
        await api.post(
            "/v1/customers/identify",
            json={"identities": [{"type": "app_user_id", "value": "intruder"}]},
            headers=intruder,
        )
    ).json()["customer_id"]
    not_found: list[tuple[str, str, dict[str, Any] | None]] = [
        ("get", f"/v1/customers/{c}", None),
        ("patch", f"/v1/customers/{c}", {"attributes": {"city": "Hijack"}}),
        ("post", f"/v1/customers/{c}/merge", {"other_customer_id": theirs}),
        ("get", f"/v1/customers/{c}/export", None),
        ("get", f"/v1/customers/{c}/erasure", None),
        ("get", f"/v1/customers/{c}/timeline", None),
        ("get", f"/v1/customers/{c}/events", None),
        ("get", f"/v1/orders/{o}", None),
        ("post", f"/v1/orders/{o}/refunds", {"refund_id": "R-X", "amount_minor": 1}),
        ("get", f"/v1/customers/{c}/orders", None),
        ("get", f"/v1/tag-groups/{g}", None),
        ("patch", f"/v1/tag-groups/{g}", {"name": "Stolen"}),
        ("get", f"/v1/tags/{t}", None),
        ("patch", f"/v1/tags/{t}", {"name": "Stolen"}),
        ("put", f"/v1/customers/{c}/tags/{t}", {}),
        ("delete", f"/v1/customers/{c}/tags/{t}", None),
        ("get", f"/v1/customers/{c}/tags", None),
        ("get", f"/v1/customers/{c}/consents", None),
        ("put", f"/v1/customers/{c}/consents", {"channel": "sms", "purpose": "service", "granted": False}),
        ("get", f"/v1/customers/{c}/consents/history", None),
        ("delete", f"/v1/tags/{t}", None),
        ("delete", f"/v1/tag-groups/{g}", None),
        ("delete", f"/v1/customers/{c}", None),
    ]
    for method, path, body in not_found:
        response = await api.request(method, path, json=body, headers=intruder)
        assert response.status_code == 404, (method, path, response.status_code, response.text)

    # An id of the owner's in a body answers exactly as an id that does not exist: 422 naming the field
    # (docs/api-conventions.md: unknown ids in paths are 404, in bodies 422).
    merges = [
        await api.post(f"/v1/customers/{theirs}/merge", json={"other_customer_id": other}, headers=intruder)
        for other in (c, str(uuid.uuid4()))
    ]
    assert [m.status_code for m in merges] == [422, 422], [m.text for m in merges]
    assert merges[0].json()["errors"] == merges[1].json()["errors"]

    customers = (await api.get("/v1/customers", headers=intruder)).json()["items"]
    assert [item["customer_id"] for item in customers] == [theirs]
    for path in ("/v1/tags", "/v1/tag-groups"):
        assert (await api.get(path, headers=intruder)).json()["items"] == [], path

    # Identities, events and orders written under the other key are the other tenant's own.
    mine = await api.post(
        "/v1/customers/identify",
        json={"identities": [{"type": "phone", "value": "13800009999"}]},
        headers=intruder,
    )
    assert mine.json()["customer_id"] != c
    foreign_event = {
        "event_id": "walk-x",
        "type": "view",
        "occurred_at": "2026-01-01T00:00:00Z",
        "customer_id": c,
    }
    assert (await api.post("/v1/events", json={"events": [foreign_event]}, headers=intruder)).json()[
        "rejected"
    ]
    foreign_order = {
        "order_id": "WALK-X",
        "customer_id": c,
        "paid_at": "2026-01-02T00:00:00Z",
        "currency": "CNY",
        "amount_minor": 1,
        "items": [{"sku": "s", "unit_price_minor": 1, "quantity": 1}],
    }
    assert (await api.post("/v1/orders", json=foreign_order, headers=intruder)).status_code in (404, 422)
    assert (await api.post("/v1/tags", json={"group_id": g, "name": "x"}, headers=intruder)).status_code in (
        404,
        422,
    )

    # Nothing of the owner's changed.
    owner = (await api.get(f"/v1/customers/{c}", headers=tenant.headers)).json()
    assert owner["attributes"]["nickname"] == "Owner"
    assert owner["attributes"]["city"] is None
    tags = (await api.get(f"/v1/customers/{c}/tags", headers=tenant.headers)).json()["items"]
    assert [item["tag"]["tag_id"] if "tag" in item else item["tag_id"] for item in tags] == [t]

"""Issue 18 item 9: what the schema now states is what the gateway does.

Integers arrive as JSON numbers without a fraction (``72.0`` is the integer 72, as JSON Schema's
``integer`` allows); fixed vocabularies in query filters are refused by name, empty included.
"""

from __future__ import annotations

import httpx

from tests.conftest import TenantKey


async def _customer(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    response = await api.post(
        "/v1/customers/identify",
        json={"identities": [{"type": "app_user_id", "value": "limits-1"}]},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    customer_id: str = response.json()["customer_id"]
    return customer_id


async def test_an_integral_number_is_an_integer_and_a_fraction_is_not(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    customer_id = await _customer(api, tenant)
    granted = await api.post(
        f"/v1/customers/{customer_id}/points/adjustments",
        json={"points": 72.0, "reason": "goodwill"},
        headers={**tenant.headers, "Idempotency-Key": "limits-adj-1"},
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["balance"] == 72
    for bad in (1.5, "1", True):
        refused = await api.post(
            f"/v1/customers/{customer_id}/points/adjustments",
            json={"points": bad, "reason": "goodwill"},
            headers=tenant.headers,
        )
        assert refused.status_code == 422, (bad, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == ["points"]


async def test_vocabulary_filters_are_refused_by_name(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    for query, field in (
        ("gender=", "gender"),
        ("gender=robot", "gender"),
        ("device=toaster", "device"),
        ("identity_type=fax&identity_value=1", "identity_type"),
        ("identity_type=phone&identity_value=", "identity_value"),
    ):
        response = await api.get(f"/v1/customers?{query}", headers=tenant.headers)
        assert response.status_code == 422, (query, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], (query, response.text)
    fine = await api.get("/v1/customers?gender=female&device=app", headers=tenant.headers)
    assert fine.status_code == 200, fine.text

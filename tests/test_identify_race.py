"""Two identify calls racing on the same new phone create one customer, not two."""

import asyncio

import httpx

from tests.conftest import TenantKey


async def test_concurrent_identifies_of_a_new_phone_create_one_customer(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    async def call(i: int) -> dict[str, object]:
        identities = [
            {"type": "phone", "value": "13655556666"},
            {"type": "app_user_id", "value": f"device-{i}"},
        ]
        response = await api.post(
            "/v1/customers/identify", json={"identities": identities}, headers=tenant.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    results = await asyncio.gather(*(call(i) for i in range(20)))
    assert len({r["customer_id"] for r in results}) == 1
    assert sum(1 for r in results if r["created"]) == 1
    customer = await api.get(f"/v1/customers/{results[0]['customer_id']}", headers=tenant.headers)
    assert len(customer.json()["identities"]) == 21

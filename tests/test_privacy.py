"""Export and erasure: everything comes out, then nothing personal is left, and nothing comes back."""

import asyncio
import uuid

import asyncpg
import httpx

from tests.conftest import TenantKey

PHONE = "13512345678"
EMAIL = "Erase.Me@example.com"


async def test_export_then_erase(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    body = {
        "identities": [{"type": "phone", "value": PHONE}, {"type": "email", "value": EMAIL}],
        "attributes": {
            "nickname": "Eraser",
            "city": "Xiamen",
            "birthday": "1988-08-08",
            "custom": {"size": "M"},
        },
    }
    customer = (await api.post("/v1/customers/identify", json=body, headers=tenant.headers)).json()[
        "customer_id"
    ]

    exported = (await api.get(f"/v1/customers/{customer}/export", headers=tenant.headers)).json()
    assert exported["customer_id"] == customer
    assert exported["attributes"]["nickname"] == "Eraser"
    assert {(i["type"], i["value"]) for i in exported["identities"]} == {
        ("phone", "+86" + PHONE),
        ("email", EMAIL.lower()),
    }

    erased = await api.delete(f"/v1/customers/{customer}", headers=tenant.headers)
    assert erased.status_code == 200
    again = await api.delete(f"/v1/customers/{customer}", headers=tenant.headers)
    assert again.json() == erased.json()
    assert (await api.get(f"/v1/customers/{customer}", headers=tenant.headers)).status_code == 404
    assert (await api.get(f"/v1/customers/{customer}/export", headers=tenant.headers)).status_code == 404

    profile = await asyncpg.connect(database_urls["profile"])
    try:
        row = await profile.fetchrow(
            "SELECT nickname_enc, city, birthday, custom, erased_at FROM customers WHERE customer_id = $1",
            uuid.UUID(customer),
        )
        identities = await profile.fetchval(
            "SELECT count(*) FROM identities WHERE customer_id = $1", uuid.UUID(customer)
        )
        suppressed = await profile.fetchval(
            "SELECT count(*) FROM suppressed_identities WHERE tenant_id = $1", uuid.UUID(tenant.tenant_id)
        )
        erased_events = await profile.fetchval(
            "SELECT count(*) FROM outbox WHERE type = 'customer.erased' AND customer_id = $1",
            uuid.UUID(customer),
        )
    finally:
        await profile.close()
    assert (row["nickname_enc"], row["city"], row["birthday"], row["custom"]) == (None, None, None, "{}")
    assert row["erased_at"] is not None
    assert identities == 0
    assert suppressed == 2
    assert erased_events == 1

    # The same phone later is a new, empty customer: nothing of the old one comes back.
    back = (
        await api.post(
            "/v1/customers/identify",
            json={"identities": [{"type": "phone", "value": PHONE}]},
            headers=tenant.headers,
        )
    ).json()
    assert back["created"] is True
    assert back["customer_id"] != customer
    fresh = (await api.get(f"/v1/customers/{back['customer_id']}", headers=tenant.headers)).json()
    assert fresh["attributes"]["nickname"] is None
    assert fresh["attributes"]["custom"] is None

    scoring = await asyncpg.connect(database_urls["scoring"])
    try:
        for _ in range(100):
            erased_at = await scoring.fetchval(
                "SELECT erased_at FROM customers WHERE customer_id = $1", uuid.UUID(customer)
            )
            if erased_at is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        await scoring.close()
    assert erased_at is not None


async def test_erasure_of_another_tenants_customer_is_404(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    body = {"identities": [{"type": "app_user_id", "value": "not-yours"}]}
    customer = (await api.post("/v1/customers/identify", json=body, headers=tenant.headers)).json()[
        "customer_id"
    ]
    assert (await api.delete(f"/v1/customers/{customer}", headers=other_tenant.headers)).status_code == 404
    assert (
        await api.get(f"/v1/customers/{customer}/export", headers=other_tenant.headers)
    ).status_code == 404
    assert (await api.get(f"/v1/customers/{customer}", headers=tenant.headers)).status_code == 200

"""The Idempotency-Key header: same key and request → the same answer, no second effect."""

import asyncio
import uuid

import asyncpg
import httpx

from tests.conftest import TenantKey


def with_key(tenant: TenantKey, key: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key}


def event(event_id: str) -> dict[str, object]:
    body = {"identities": [{"type": "app_user_id", "value": "idem-1"}]}
    return {"events": [{"event_id": event_id, "type": "view", "occurred_at": "2026-01-01T00:00:00Z", **body}]}


async def test_a_repeat_gets_the_first_answer(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    key = f"key-{uuid.uuid4()}"
    first = await api.post("/v1/events", json=event("idem-e1"), headers=with_key(tenant, key))
    again = await api.post("/v1/events", json=event("idem-e1"), headers=with_key(tenant, key))
    assert first.status_code == again.status_code == 200
    assert first.json()["accepted"] == 1
    assert again.json() == first.json()  # replayed, not "duplicates: 1"
    assert again.headers["idempotent-replayed"] == "true"
    fresh = await api.post("/v1/events", json=event("idem-e1"), headers=tenant.headers)
    assert fresh.json()["duplicates"] == 1


async def test_the_same_key_for_another_request_is_409(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    key = f"key-{uuid.uuid4()}"
    assert (
        await api.post("/v1/events", json=event("idem-a"), headers=with_key(tenant, key))
    ).status_code == 200
    other = await api.post("/v1/events", json=event("idem-b"), headers=with_key(tenant, key))
    assert other.status_code == 409
    assert other.json()["reason"] == "KEY_REUSED"


async def test_keys_are_per_tenant_and_validated(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    key = f"key-{uuid.uuid4()}"
    mine = await api.post("/v1/events", json=event("idem-t"), headers=with_key(tenant, key))
    theirs = await api.post("/v1/events", json=event("idem-t"), headers=with_key(other_tenant, key))
    assert mine.json()["accepted"] == theirs.json()["accepted"] == 1
    assert "idempotent-replayed" not in theirs.headers
    bad = await api.post("/v1/events", json=event("idem-x"), headers=with_key(tenant, "has space"))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_concurrent_repeats_of_an_order_record_it_once(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    order_id = f"IDEM-{uuid.uuid4().hex[:8]}"
    body = {
        "order_id": order_id,
        "identities": [{"type": "app_user_id", "value": "idem-buyer"}],
        "paid_at": "2026-01-02T00:00:00Z",
        "currency": "CNY",
        "amount_minor": 500,
        "items": [{"sku": "s", "unit_price_minor": 500, "quantity": 1}],
    }
    key = f"key-{uuid.uuid4()}"
    answers = await asyncio.gather(
        *(api.post("/v1/orders", json=body, headers=with_key(tenant, key)) for _ in range(8))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    assert all(a.json()["reason"] == "KEY_IN_PROGRESS" for a in answers if a.status_code == 409)
    replay = await api.post("/v1/orders", json=body, headers=with_key(tenant, key))
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        paid = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE type = 'order.paid' AND tenant_id = $1",
            uuid.UUID(tenant.tenant_id),
        )
    finally:
        await connection.close()
    assert paid == 1

"""Idempotency, stricter (issue 15, item 6), through the real gateway and services.

A points key remembers what it moved (customer, kind, amount) for good: the same key for anything
else answers 409 even once the gateway's 24 h Idempotency-Key record is gone, and a true replay
answers the original movement.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TenantKey

KINDS = {"redeem": "redemptions", "adjust": "adjustments"}


async def new_customer(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    body = {"identities": [{"type": "external_id", "value": f"strict-{uuid.uuid4().hex}"}]}
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    customer_id: str = response.json()["customer_id"]
    return customer_id


async def move(
    api: httpx.AsyncClient, tenant: TenantKey, customer: str, kind: str, points: int, key: str
) -> httpx.Response:
    return await api.post(
        f"/v1/customers/{customer}/points/{KINDS[kind]}",
        json={"points": points, "reason": "strict idempotency"},
        headers={**tenant.headers, "Idempotency-Key": key},
    )


async def forget(database_urls: dict[str, str], tenant: TenantKey, key: str) -> None:
    """What the gateway's record expiring does: the key is unknown to the gateway again."""
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        await connection.execute(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2", uuid.UUID(tenant.tenant_id), key
        )
    finally:
        await connection.close()


async def balance(api: httpx.AsyncClient, tenant: TenantKey, customer: str) -> int:
    response = await api.get(f"/v1/customers/{customer}/points", headers=tenant.headers)
    assert response.status_code == 200, response.text
    points: int = response.json()["balance"]
    return points


async def test_a_points_key_remembers_what_it_moved(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    alice, bob = await new_customer(api, tenant), await new_customer(api, tenant)
    key = f"strict-{uuid.uuid4().hex}"
    first = await move(api, tenant, alice, "adjust", 100, key)
    assert first.status_code == 201, first.text
    assert first.json()["replayed"] is False

    within_a_day = await move(api, tenant, alice, "adjust", 100, key)
    assert within_a_day.status_code == 201
    assert within_a_day.json()["entry_id"] == first.json()["entry_id"]
    assert (await move(api, tenant, bob, "adjust", 100, key)).status_code == 409  # the gateway's record

    for customer, kind, points in ((alice, "adjust", 50), (bob, "adjust", 100), (alice, "redeem", 100)):
        await forget(database_urls, tenant, key)
        reused = await move(api, tenant, customer, kind, points, key)
        assert reused.status_code == 409, reused.text
        assert reused.json()["reason"] == "IDEMPOTENCY_KEY_REUSED"
        assert reused.json()["idempotency_key"] == key

    await forget(database_urls, tenant, key)
    replay = await move(api, tenant, alice, "adjust", 100, key)
    assert replay.status_code == 201, replay.text
    assert replay.json()["entry_id"] == first.json()["entry_id"]
    assert replay.json()["replayed"] is True
    assert replay.headers["idempotent-replayed"] == "true"
    assert await balance(api, tenant, alice) == 100
    assert await balance(api, tenant, bob) == 0


async def test_a_redemption_key_reused_for_an_adjustment_is_409(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    customer = await new_customer(api, tenant)
    assert (await move(api, tenant, customer, "adjust", 30, f"seed-{uuid.uuid4().hex}")).status_code == 201
    key = f"strict-{uuid.uuid4().hex}"
    assert (await move(api, tenant, customer, "redeem", 10, key)).status_code == 201
    await forget(database_urls, tenant, key)
    # a negative adjustment moves the same -10 as the redemption, but it is another kind
    reused = await move(api, tenant, customer, "adjust", -10, key)
    assert reused.status_code == 409
    assert reused.json()["reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert await balance(api, tenant, customer) == 20


Request = tuple[str, int, str, int, bool]  # key, customer index, kind, points, forget the gateway's record


def requests() -> st.SearchStrategy[list[Request]]:
    one = st.tuples(
        st.sampled_from("abc"),
        st.integers(0, 1),
        st.sampled_from(sorted(KINDS)),
        st.sampled_from([-2, 1, 2, 3]),
        st.booleans(),
    )
    return st.lists(one, min_size=1, max_size=8)


async def test_each_key_moves_value_at_most_once(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    """Random sequences of (key, customer, kind, amount): every answer is the key's original
    movement or 409, and the balances are exactly what the keys' first movements add up to."""
    loop = asyncio.get_running_loop()
    customers = [await new_customer(api, tenant) for _ in range(2)]
    for customer in customers:
        seeded = await move(api, tenant, customer, "adjust", 1000, f"seed-{uuid.uuid4().hex}")
        assert seeded.status_code == 201
    expected = [1000, 1000]

    async def example(sequence: list[Request]) -> None:
        run = uuid.uuid4().hex[:8]
        booked: dict[str, tuple[tuple[int, str, int], str]] = {}
        for letter, who, kind, points, forget_record in sequence:
            points = abs(points) if kind == "redeem" else points
            key = f"prop-{run}-{letter}"
            if forget_record:
                await forget(database_urls, tenant, key)
            answer = await move(api, tenant, customers[who], kind, points, key)
            asked = (who, kind, points)
            if answer.status_code == 201:
                entry: str = answer.json()["entry_id"]
                if key in booked:
                    assert booked[key] == (asked, entry), (key, asked, entry, booked[key])
                else:
                    booked[key] = (asked, entry)
                    expected[who] += -points if kind == "redeem" else points
            else:
                assert answer.status_code == 409, answer.text
                assert booked.get(key, (None,))[0] != asked, f"{key}: the original request got 409"
        for index, customer in enumerate(customers):
            assert await balance(api, tenant, customer) == expected[index]

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(sequence=requests())
    def check(sequence: list[Request]) -> None:
        asyncio.run_coroutine_threadsafe(example(sequence), loop).result(timeout=60)

    await asyncio.to_thread(check)

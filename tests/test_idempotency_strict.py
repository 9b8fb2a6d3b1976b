"""Idempotency, stricter (issue 15, item 6), through the real gateway and services.

A points key remembers what it moved (customer, kind, amount) for good: the same key for anything
else answers 409 even once the gateway's 24 h Idempotency-Key record is gone, and a true replay
answers the original movement.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import timedelta

import asyncpg
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.profile.store.idempotency import IdempotencyPurge
from services.runtime.server import ServiceServer
from tests.conftest import TenantKey

KINDS = {"redeem": "redemptions", "adjust": "adjustments"}


async def new_customer(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    body = {"identities": [{"type": "external_id", "value": f"strict-{uuid.uuid4().hex}"}]}
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    customer_id: str = response.json()["customer_id"]
    return customer_id


def move_request(customer: str, kind: str, points: int) -> tuple[str, bytes]:
    """The path and the exact body bytes of a movement (the gateway hashes them)."""
    body = json.dumps({"points": points, "reason": "strict idempotency"}).encode()
    return f"/v1/customers/{customer}/points/{KINDS[kind]}", body


def request_sha256(path: str, body: bytes) -> str:
    """The digest the gateway records a POST under (gateway/idempotency.py)."""
    return hashlib.sha256(b"POST\n" + path.encode() + b"?\n" + body).hexdigest()


async def move(
    api: httpx.AsyncClient, tenant: TenantKey, customer: str, kind: str, points: int, key: str
) -> httpx.Response:
    path, body = move_request(customer, kind, points)
    headers = {**tenant.headers, "Idempotency-Key": key, "Content-Type": "application/json"}
    return await api.post(path, content=body, headers=headers)


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
    cached = await move(api, tenant, bob, "adjust", 100, key)  # the gateway's record answers
    assert (cached.status_code, cached.json()["reason"]) == (409, "KEY_REUSED")
    assert cached.json()["idempotency_key"] == key

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


async def test_a_key_booked_before_a_merge_replays_through_the_merged_away_id(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    """A merged-away id acts on the survivor, which now holds the key's entry: the same movement
    replays (through the transactional path, which resolves the merge), another one is 409."""
    survivor, merged = await new_customer(api, tenant), await new_customer(api, tenant)
    key = f"strict-{uuid.uuid4().hex}"
    first = await move(api, tenant, merged, "adjust", 5, key)
    assert first.status_code == 201, first.text
    merge = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert merge.status_code == 200, merge.text
    assert merge.json()["customer_id"] == survivor
    for _ in range(150):  # loyalty learns of the merge from profile's events
        seen = await api.get(f"/v1/customers/{merged}/points", headers=tenant.headers)
        if seen.json()["customer_id"] == survivor and seen.json()["balance"] == 5:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"loyalty never saw the merge: {seen.text}")

    for customer in (merged, survivor):
        await forget(database_urls, tenant, key)
        replay = await move(api, tenant, customer, "adjust", 5, key)
        assert replay.status_code == 201, replay.text
        assert (replay.json()["entry_id"], replay.json()["replayed"]) == (first.json()["entry_id"], True)
    await forget(database_urls, tenant, key)
    other = await move(api, tenant, merged, "adjust", 6, key)
    assert (other.status_code, other.json()["reason"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert await balance(api, tenant, survivor) == 5


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


async def insert_record(
    database_urls: dict[str, str],
    tenant: TenantKey,
    key: str,
    *,
    state: str,
    age: str,
    expires_in: str,
    sha256: str = "0" * 64,
) -> None:
    """An Idempotency-Key record as a gateway left it ``age`` ago (``'70 seconds'``)."""
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        await connection.execute(
            "INSERT INTO idempotency_keys (tenant_id, key, request_sha256, state, status_code, body, "
            "content_type, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
            "now() - $8::text::interval, now() + $9::text::interval)",
            uuid.UUID(tenant.tenant_id),
            key,
            sha256,
            state,
            None if state == "pending" else 200,
            None if state == "pending" else b"{}",
            None if state == "pending" else "application/json",
            age,
            expires_in,
        )
    finally:
        await connection.close()


async def records(database_urls: dict[str, str], tenant: TenantKey, prefix: str) -> dict[str, str]:
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        rows = await connection.fetch(
            "SELECT key, state FROM idempotency_keys WHERE tenant_id = $1 AND key LIKE $2",
            uuid.UUID(tenant.tenant_id),
            f"{prefix}%",
        )
    finally:
        await connection.close()
    return {row["key"]: row["state"] for row in rows}


async def test_a_pending_key_whose_request_died_is_released_after_its_lease(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    customer = await new_customer(api, tenant)
    running, dead = f"running-{uuid.uuid4().hex}", f"dead-{uuid.uuid4().hex}"
    sha = request_sha256(*move_request(customer, "adjust", 7))
    for key, age in ((running, "5 seconds"), (dead, "70 seconds")):
        await insert_record(
            database_urls, tenant, key, state="pending", age=age, expires_in="1 day", sha256=sha
        )

    still_running = await move(api, tenant, customer, "adjust", 7, running)
    assert still_running.status_code == 409
    assert still_running.json()["reason"] == "KEY_IN_PROGRESS"
    assert still_running.headers["retry-after"] == "1"

    retried = await move(api, tenant, customer, "adjust", 7, dead)
    assert retried.status_code == 201, retried.text
    assert retried.json()["replayed"] is False
    again = await move(api, tenant, customer, "adjust", 7, dead)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["entry_id"] == retried.json()["entry_id"]
    assert await balance(api, tenant, customer) == 7
    assert (await records(database_urls, tenant, dead))[dead] == "done"


async def test_expired_records_are_purged_in_batches_and_fresh_ones_kept(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    database_urls: dict[str, str],
    services: dict[str, ServiceServer],
) -> None:
    profile = services["profile"]
    owners = [getattr(task, "__self__", None) for task in profile.background]
    wired = [owner for owner in owners if isinstance(owner, IdempotencyPurge)]
    assert len(wired) == 1, "the profile service runs the purge in the background"
    prefix = f"purge-{uuid.uuid4().hex[:8]}-"
    for index in range(7):
        state = "done" if index % 2 else "pending"
        await insert_record(
            database_urls, tenant, f"{prefix}old-{index}", state=state, age="25 hours", expires_in="-1 hour"
        )
    await insert_record(
        database_urls, tenant, f"{prefix}fresh-done", state="done", age="1 hour", expires_in="23 hours"
    )
    await insert_record(
        database_urls, tenant, f"{prefix}fresh-pending", state="pending", age="1 second", expires_in="1 day"
    )

    deleted = await IdempotencyPurge(profile.database, timedelta(minutes=5), batch=3).purge_once()
    assert deleted >= 7  # other tests' expired records, if any, go too
    assert await records(database_urls, tenant, prefix) == {
        f"{prefix}fresh-done": "done",
        f"{prefix}fresh-pending": "pending",
    }
    assert await wired[0].purge_once() == 0

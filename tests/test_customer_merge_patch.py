"""Merging customers (by identify and by hand) and PATCHing attributes, through the gateway."""

import asyncio
import uuid
from collections.abc import Mapping

import asyncpg
import httpx

from tests.conftest import TenantKey


async def identify(
    api: httpx.AsyncClient, tenant: TenantKey, *identities: Mapping[str, object], **attributes: object
) -> dict:  # type: ignore[type-arg]
    body: dict[str, object] = {"identities": list(identities)}
    if attributes:
        body["attributes"] = attributes
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def phone(n: int) -> dict[str, str]:
    return {"type": "phone", "value": f"139{n:08d}"}


def email(name: str) -> dict[str, str]:
    return {"type": "email", "value": f"{name}@example.com"}


def verified(identity: Mapping[str, object]) -> dict[str, object]:
    return {**identity, "verified": True}


async def test_identities_that_join_two_customers_merge_them_into_the_oldest(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    older = await identify(api, tenant, phone(1001))
    younger = await identify(api, tenant, email("merge-me"), nickname="Young")
    # Verified: a phone and an e-mail link customers only when the person proved both (docs/security.md).
    joined = await identify(api, tenant, verified(phone(1001)), verified(email("merge-me")))
    assert joined == {
        "customer_id": older["customer_id"],
        "created": False,
        "merged_customer_ids": [younger["customer_id"]],
        "unmerged_customer_ids": [],
    }
    merged_away = (await api.get(f"/v1/customers/{younger['customer_id']}", headers=tenant.headers)).json()
    assert merged_away["customer_id"] == older["customer_id"]
    assert merged_away["merged_into"] == older["customer_id"]
    assert merged_away["attributes"]["nickname"] == "Young"  # the survivor had none: it takes the other's
    assert {i["type"] for i in merged_away["identities"]} == {"phone", "email"}

    connection = await asyncpg.connect(database_urls["profile"])
    try:
        events = await connection.fetch(
            "SELECT customer_id FROM outbox WHERE type = 'customer.merged' AND tenant_id = $1",
            uuid.UUID(tenant.tenant_id),
        )
        record = await connection.fetchrow(
            "SELECT survivor_id, reason FROM customer_merges WHERE merged_id = $1",
            uuid.UUID(younger["customer_id"]),
        )
    finally:
        await connection.close()
    assert [str(e["customer_id"]) for e in events] == [older["customer_id"]]
    assert (str(record["survivor_id"]), record["reason"]) == (older["customer_id"], "identify")

    scoring = await asyncpg.connect(database_urls["scoring"])
    try:
        for _ in range(100):
            merged_into = await scoring.fetchval(
                "SELECT merged_into FROM customers WHERE customer_id = $1", uuid.UUID(younger["customer_id"])
            )
            if merged_into is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        await scoring.close()
    assert str(merged_into) == older["customer_id"]


async def test_concurrent_joining_identifies_agree_on_one_survivor(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    a = await identify(api, tenant, phone(2001))
    await identify(api, tenant, email("race-b"))
    await identify(api, tenant, {"type": "app_user_id", "value": "race-c"})
    results = await asyncio.gather(
        *(
            identify(
                api,
                tenant,
                verified(phone(2001)),
                verified(email("race-b")),
                {"type": "app_user_id", "value": "race-c"},
            )
            for _ in range(6)
        )
    )
    assert {r["customer_id"] for r in results} == {a["customer_id"]}
    assert sum(len(r["merged_customer_ids"]) for r in results) == 2


async def test_merge_by_hand(api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey) -> None:
    keep = (await identify(api, tenant, phone(3001)))["customer_id"]
    fold = (await identify(api, tenant, phone(3002), city="Suzhou"))["customer_id"]
    response = await api.post(
        f"/v1/customers/{keep}/merge", json={"other_customer_id": fold}, headers=tenant.headers
    )
    assert response.json() == {"customer_id": keep, "merged_customer_ids": [fold]}
    again = await api.post(
        f"/v1/customers/{keep}/merge", json={"other_customer_id": fold}, headers=tenant.headers
    )
    assert again.json()["merged_customer_ids"] == []
    survivor = (await api.get(f"/v1/customers/{fold}", headers=tenant.headers)).json()
    assert survivor["customer_id"] == keep
    assert survivor["attributes"]["city"] == "Suzhou"

    itself = await api.post(
        f"/v1/customers/{keep}/merge", json={"other_customer_id": keep}, headers=tenant.headers
    )
    assert itself.status_code == 422
    assert itself.json()["errors"][0]["field"] == "other_customer_id"
    unknown = await api.post(
        f"/v1/customers/{keep}/merge", json={"other_customer_id": str(uuid.uuid4())}, headers=tenant.headers
    )
    assert unknown.status_code == 422  # issue 18 item 8: an unknown id in a body is 422 naming it
    assert unknown.json()["errors"][0]["field"] == "other_customer_id"
    foreign = (await identify(api, other_tenant, phone(3003)))["customer_id"]
    across = await api.post(
        f"/v1/customers/{keep}/merge", json={"other_customer_id": foreign}, headers=tenant.headers
    )
    assert across.status_code == 422  # another tenant's id in the body: unknown here, 422
    from_outside = await api.post(
        f"/v1/customers/{keep}/merge", json={"other_customer_id": foreign}, headers=other_tenant.headers
    )
    assert from_outside.status_code == 404


async def test_patch_sets_and_clears_attributes(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = (await identify(api, tenant, phone(4001), nickname="Old", city="Ningbo"))["customer_id"]
    patched = await api.patch(
        f"/v1/customers/{customer}",
        json={"attributes": {"nickname": None, "province": "Zhejiang", "custom": {"vip": True}}},
        headers=tenant.headers,
    )
    assert patched.status_code == 200, patched.text
    attributes = patched.json()["attributes"]
    assert attributes["nickname"] is None
    assert (attributes["province"], attributes["city"], attributes["custom"]) == (
        "Zhejiang",
        "Ningbo",
        {"vip": True},
    )

    for body, field in [
        ({"attributes": {"shoe": 1}}, "attributes.shoe"),
        ({"attributes": {"birthday": "2999-01-01"}}, "attributes.birthday"),
        ({"attributes": {"gender": "robot"}}, "attributes.gender"),
    ]:
        bad = await api.patch(f"/v1/customers/{customer}", json=body, headers=tenant.headers)
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == field
    missing = await api.patch(
        f"/v1/customers/{uuid.uuid4()}", json={"attributes": {}}, headers=tenant.headers
    )
    assert missing.status_code == 404

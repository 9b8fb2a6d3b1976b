"""API keys through the gateway: several per tenant with names, scopes and expiry; issue (admin or a
key with ``operate``), list without secrets, revoke (refused within 5 s), roll with an overlap, and
the last use written at most once a minute."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from gateway.auth import MAX_CACHE_SECONDS
from tests.conftest import ADMIN_TOKEN, TenantKey, create_tenant

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Every tenant path of the keys API, walked by another tenant below (tests/test_profile_tenancy.py
# checks that the tenancy walks cover every documented path).
WALKED = {
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{key_id}"),
    ("post", "/v1/api-keys/{key_id}/roll"),
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def issue(api: httpx.AsyncClient, owner: TenantKey, **body: object) -> dict[str, object]:
    response = await api.post("/v1/api-keys", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    issued: dict[str, object] = response.json()
    return issued


async def refused_within(api: httpx.AsyncClient, key: str, bound: float) -> float:
    """Seconds until the key is refused with 401 (fails past ``bound``)."""
    started = time.monotonic()
    while True:
        response = await api.get("/v1/api-keys", headers=bearer(key))
        elapsed = time.monotonic() - started
        if response.status_code == 401:
            return elapsed
        assert response.status_code == 200, response.text
        assert elapsed <= bound, f"still accepted after {elapsed:.1f} s"
        await asyncio.sleep(0.25)


async def test_a_tenant_has_several_named_keys_listed_without_secrets(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    reader = await issue(api, tenant, name="warehouse", scopes=["read"], expires_at=expires)
    assert str(reader["api_key"]).startswith("ptk_")
    assert reader["scopes"] == ["read"]
    assert reader["name"] == "warehouse"
    assert reader["expires_at"] is not None
    listed = await api.get("/v1/api-keys", headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [item["name"] for item in items] == ["warehouse", "first key"]
    assert sorted(items[1]["scopes"]) == sorted(["ingest", "read", "points", "privacy", "operate", "audit"])
    assert all("api_key" not in item and item["prefix"].endswith("…") for item in items)
    assert str(reader["api_key"]) not in listed.text
    # The read key reads, and is refused what it lacks, naming the scope.
    read = bearer(str(reader["api_key"]))
    assert (await api.get("/v1/customers", headers=read)).status_code == 200
    denied = await api.get("/v1/api-keys", headers=read)
    assert denied.status_code == 403
    assert denied.json()["scope"] == "operate"


async def test_the_admin_issues_keys_for_a_tenant(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    body = {"name": "ingest only", "scopes": ["ingest"]}
    issued = await api.post(f"/v1/admin/tenants/{tenant.tenant_id}/api-keys", json=body, headers=ADMIN)
    assert issued.status_code == 201, issued.text
    key = bearer(issued.json()["api_key"])
    identify = {"identities": [{"type": "external_id", "value": "c-1"}]}
    assert (await api.post("/v1/customers/identify", json=identify, headers=key)).status_code == 200
    refused = await api.get("/v1/customers", headers=key)
    assert refused.status_code == 403
    assert refused.json()["scope"] == "read"
    by_tenant = await api.post(
        f"/v1/admin/tenants/{tenant.tenant_id}/api-keys", json=body, headers=tenant.headers
    )
    assert by_tenant.status_code == 403
    unknown = await api.post(
        "/v1/admin/tenants/00000000-0000-4000-8000-000000000000/api-keys", json=body, headers=ADMIN
    )
    assert unknown.status_code == 404, unknown.text


async def test_bad_keys_are_422_naming_the_field(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for body, field in [
        ({"name": "x", "scopes": ["everything"]}, "scopes[0]"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": " ", "scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": ["read", "read"]}, "scopes[1]"),
        ({"name": "x", "scopes": ["read"], "expires_at": past}, "expires_at"),
    ]:
        response = await api.post("/v1/api-keys", json=body, headers=tenant.headers)
        assert response.status_code == 422, (body, response.text)
        assert field in [error["field"] for error in response.json()["errors"]], (body, response.text)
    overlap = await api.post(
        f"/v1/api-keys/{(await issue(api, tenant, name='r', scopes=['read']))['key_id']}/roll",
        json={"overlap": "P8D"},
        headers=tenant.headers,
    )
    assert overlap.status_code == 422
    assert overlap.json()["errors"][0]["field"] == "overlap"


async def test_a_key_hands_on_only_the_scopes_it_holds(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    operator = await issue(api, tenant, name="ops", scopes=["operate", "read"])
    wider = await api.post(
        "/v1/api-keys", json={"name": "more", "scopes": ["privacy"]}, headers=bearer(str(operator["api_key"]))
    )
    assert wider.status_code == 403
    assert wider.json()["scope"] == "privacy"
    full = await issue(api, tenant, name="full", scopes=["privacy", "operate"])
    roll = await api.post(
        f"/v1/api-keys/{full['key_id']}/roll", json={}, headers=bearer(str(operator["api_key"]))
    )
    assert roll.status_code == 403
    assert roll.json()["scope"] == "privacy"


async def test_a_revoked_key_is_refused_within_five_seconds(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    assert MAX_CACHE_SECONDS <= 5
    doomed = await issue(api, tenant, name="doomed", scopes=["operate"])
    key = str(doomed["api_key"])
    assert (await api.get("/v1/api-keys", headers=bearer(key))).status_code == 200  # now cached
    revoked = await api.delete(f"/v1/api-keys/{doomed['key_id']}", headers=tenant.headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    await refused_within(api, key, MAX_CACHE_SECONDS + 1)
    other = await api.delete("/v1/api-keys/00000000-0000-4000-8000-000000000000", headers=tenant.headers)
    assert other.status_code == 404


async def test_another_tenant_sees_and_changes_nothing_of_the_owners_keys(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    mine = await issue(api, tenant, name="mine", scopes=["read"])
    intruder = other_tenant.headers
    theirs = await issue(api, other_tenant, name="theirs", scopes=["read"])
    listed = (await api.get("/v1/api-keys", headers=intruder)).json()["items"]
    assert mine["key_id"] not in {item["key_id"] for item in listed}
    assert theirs["key_id"] in {item["key_id"] for item in listed}
    revoke = await api.delete(f"/v1/api-keys/{mine['key_id']}", headers=intruder)
    assert revoke.status_code == 404
    roll = await api.post(f"/v1/api-keys/{mine['key_id']}/roll", json={"overlap": "PT0S"}, headers=intruder)
    assert roll.status_code == 404
    assert (await api.get("/v1/customers", headers=bearer(str(mine["api_key"])))).status_code == 200
    owners = (await api.get("/v1/api-keys", headers=tenant.headers)).json()["items"]
    assert theirs["key_id"] not in {item["key_id"] for item in owners}
    assert next(item for item in owners if item["key_id"] == mine["key_id"])["revoked_at"] is None


async def test_an_expired_key_is_refused(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    brief = await issue(api, tenant, name="brief", scopes=["operate"], expires_at=soon)
    await refused_within(api, str(brief["api_key"]), 2 + MAX_CACHE_SECONDS + 1)


async def test_rolling_keeps_the_old_key_for_the_overlap(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    old = await issue(api, tenant, name="shop", scopes=["operate", "read"])
    rolled = await api.post(
        f"/v1/api-keys/{old['key_id']}/roll", json={"overlap": "PT1H"}, headers=tenant.headers
    )
    assert rolled.status_code == 201, rolled.text
    assert rolled.headers["cache-control"] == "no-store"
    new = rolled.json()
    assert new["name"] == "shop"
    assert new["scopes"] == ["operate", "read"]
    assert new["rolled_from"] == old["key_id"]
    assert new["api_key"] != old["api_key"]
    until = datetime.fromisoformat(new["replaced"]["expires_at"])
    assert timedelta(minutes=59) < until - datetime.now(UTC) <= timedelta(hours=1)
    for key in (old["api_key"], new["api_key"]):
        assert (await api.get("/v1/api-keys", headers=bearer(str(key)))).status_code == 200
    # No overlap: the old key stops at once (within the cache bound).
    again = await api.post(
        f"/v1/api-keys/{new['key_id']}/roll", json={"overlap": "PT0S"}, headers=tenant.headers
    )
    assert again.status_code == 201, again.text
    await refused_within(api, str(new["api_key"]), MAX_CACHE_SECONDS + 1)
    assert (await api.get("/v1/api-keys", headers=bearer(again.json()["api_key"]))).status_code == 200
    gone = await api.post(f"/v1/api-keys/{new['key_id']}/roll", json={}, headers=tenant.headers)
    assert gone.status_code == 404


async def test_last_use_is_recorded_at_most_once_a_minute(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    used = await issue(api, tenant, name="used", scopes=["operate"])

    async def last_used() -> str | None:
        items = (await api.get("/v1/api-keys", headers=tenant.headers)).json()["items"]
        found: str | None = next(item["last_used_at"] for item in items if item["key_id"] == used["key_id"])
        return found

    assert await last_used() is None
    assert (await api.get("/v1/api-keys", headers=bearer(str(used["api_key"])))).status_code == 200
    first = await last_used()
    assert first is not None
    await asyncio.sleep(MAX_CACHE_SECONDS + 0.5)  # the gateway asks the profile service again
    assert (await api.get("/v1/api-keys", headers=bearer(str(used["api_key"])))).status_code == 200
    assert await last_used() == first


async def test_an_issued_key_is_never_kept_as_an_idempotent_answer(
    api: httpx.AsyncClient, database_urls: dict[str, str]
) -> None:
    """The answer carries the secret: the gateway keeps no copy of it, even asked to."""
    tenant = await create_tenant(api, "Secret shop")
    headers = {**tenant.headers, "Idempotency-Key": "issue-once"}
    body = {"name": "pos", "scopes": ["ingest"]}
    first = await api.post("/v1/api-keys", json=body, headers=headers)
    second = await api.post("/v1/api-keys", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["api_key"] != second.json()["api_key"]
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        stored = await connection.fetch("SELECT * FROM idempotency_keys WHERE key = 'issue-once'")
    finally:
        await connection.close()
    assert stored == []

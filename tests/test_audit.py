"""The audit log records every audited action through the real gateway and services: who (the key,
or admin), what (action, target, detail), how it ended; a failed action is recorded as failed; and
when the log cannot be written the action is refused and does not happen (no audit, no action)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from tests.conftest import ADMIN_TOKEN, TenantKey
from tests.test_segment_exports_api import done_export, identify, living_in, saved_segment

# The audit route, for the tenancy census (tests/test_profile_tenancy.py).
WALKED = {("get", "/v1/audit")}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def audit_items(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/v1/audit", params={"limit": 500, **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def first_key_actor(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    keys = (await api.get("/v1/api-keys", headers=tenant.headers)).json()["items"]
    return "key:" + str(next(key["key_id"] for key in keys if key["name"] == "first key"))


def only(items: list[dict[str, Any]], action: str) -> dict[str, Any]:
    found = [item for item in items if item["action"] == action]
    assert len(found) == 1, (action, found)
    return found[0]


@asynccontextmanager
async def audit_log_locked(profile_url: str) -> AsyncIterator[None]:
    """The audit log locked against every write, as a migration or an operator's LOCK TABLE would."""
    connection = await asyncpg.connect(profile_url)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
    finally:
        await connection.close()


async def test_each_audited_action_records_who_what_and_how_it_ended(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    h = tenant.headers
    city = f"Audit-{uuid.uuid4().hex[:8]}"
    customer = await identify(api, tenant, ("phone", "13800001111"), ("email", "alice@example.com"))
    other = await identify(api, tenant, ("phone", "13800002222"))
    member = await identify(api, tenant, ("phone", "13800003333"), city=city)

    assert (await api.get(f"/v1/customers/{customer}/export", headers=h)).status_code == 200
    adjustments = f"/v1/customers/{customer}/points/adjustments"
    adjusted = await api.post(adjustments, json={"points": 40, "reason": "goodwill, Alice"}, headers=h)
    assert adjusted.status_code == 201, adjusted.text
    merge = await api.post(f"/v1/customers/{customer}/merge", json={"other_customer_id": other}, headers=h)
    assert merge.status_code == 200, merge.text
    assert (await api.delete(f"/v1/customers/{customer}", headers=h)).status_code == 200
    issued = await api.post("/v1/api-keys", json={"name": "ops laptop", "scopes": ["read"]}, headers=h)
    assert issued.status_code == 201, issued.text
    key = issued.json()
    rolled = await api.post(f"/v1/api-keys/{key['key_id']}/roll", json={"overlap": "PT1H"}, headers=h)
    assert rolled.status_code == 201, rolled.text
    assert (await api.delete(f"/v1/api-keys/{rolled.json()['key_id']}", headers=h)).status_code == 200
    admin_issued = await api.post(
        f"/v1/admin/tenants/{tenant.tenant_id}/api-keys",
        json={"name": "auditor", "scopes": ["audit"]},
        headers=ADMIN,
    )
    assert admin_issued.status_code == 201, admin_issued.text
    segment = await saved_segment(api, tenant, living_in(city), 1)
    started = await api.post(f"/v1/segments/{segment}/exports", headers=h)
    assert started.status_code == 202, started.text
    export = started.json()["export_id"]
    await done_export(api, tenant, segment, export)
    download = await api.get(f"/v1/segments/{segment}/exports/{export}/csv", headers=h)
    assert download.status_code == 200
    assert member in download.text

    listed = await api.get("/v1/audit", headers=h)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    order = [
        "segment.export.download",
        "segment.export",
        "api_key.issue",
        "api_key.revoke",
        "api_key.roll",
        "api_key.issue",
        "customer.erase",
        "customer.merge",
        "points.adjust",
        "customer.export",
    ]
    assert [item["action"] for item in items] == order, "newest first"
    me = await first_key_actor(api, tenant)
    assert {item["actor"] for item in items} == {me, "admin"}
    assert all(item["outcome"] == "succeeded" and item["finished_at"] for item in items)
    assert all(item["client_address"] for item in items)
    assert len({item["request_id"] for item in items}) == len(items)
    summary = {
        (item["action"], item["actor"] == "admin"): (
            item["target"],
            item["status"],
            item["detail"],
            item["result"],
        )
        for item in items
    }
    assert summary[("customer.export", False)] == (customer, 200, {}, {})
    entry_id = adjusted.json()["entry_id"]
    assert summary[("points.adjust", False)] == (
        customer,
        201,
        {"points": 40},
        {"entry_id": entry_id, "replayed": False},
    )
    merged = {"customer_id": customer, "merged": 1, "merged_customer_ids": [other]}
    assert summary[("customer.merge", False)] == (customer, 200, {"other_customer_id": other}, merged)
    assert summary[("customer.erase", False)] == (customer, 200, {}, {})
    assert summary[("api_key.issue", False)] == (key["key_id"], 201, {"scopes": ["read"]}, {})
    roll = summary[("api_key.roll", False)]
    assert roll[:3] == (key["key_id"], 201, {"overlap": "PT1H"})
    assert roll[3]["key_id"] == rolled.json()["key_id"]
    assert roll[3]["expires_at"]
    assert summary[("api_key.revoke", False)] == (rolled.json()["key_id"], 200, {}, {})
    assert summary[("api_key.issue", True)] == (admin_issued.json()["key_id"], 201, {"scopes": ["audit"]}, {})
    assert summary[("segment.export", False)] == (segment, 202, {}, {"export_id": export, "members": 1})
    assert summary[("segment.export.download", False)] == (export, 200, {"segment_id": segment}, {})
    # No contact, name, reason or secret reaches the log (it outlives the customer's erasure).
    for secret in ("13800001111", "alice", "Alice", "goodwill", "ops laptop", "auditor", "ptk_"):
        assert secret not in listed.text, secret


async def test_a_failed_action_is_recorded_as_failed_with_its_status(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    h = tenant.headers
    unknown = str(uuid.uuid4())
    assert (await api.get(f"/v1/customers/{unknown}/export", headers=h)).status_code == 404
    assert (await api.get("/v1/customers/not-an-id/export", headers=h)).status_code == 404
    customer = await identify(api, tenant, ("phone", "13800004444"))
    debit = {"points": -5, "reason": "more than held"}
    over = await api.post(f"/v1/customers/{customer}/points/adjustments", json=debit, headers=h)
    assert over.status_code == 409, over.text
    missing_key = str(uuid.uuid4())
    assert (await api.delete(f"/v1/api-keys/{missing_key}", headers=h)).status_code == 404

    items = await audit_items(api, h)
    assert [(i["action"], i["target"], i["outcome"], i["status"]) for i in items] == [
        ("api_key.revoke", missing_key, "failed", 404),
        ("points.adjust", customer, "failed", 409),
        ("customer.export", None, "failed", 404),  # a malformed id: no client text reaches the log
        ("customer.export", unknown, "failed", 404),
    ]
    assert all(item["finished_at"] and item["result"] == {} for item in items)


async def test_without_an_audit_entry_the_action_is_refused_and_never_happens(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    h = tenant.headers
    customer = await identify(api, tenant, ("phone", "13800005555"))
    keys_before = (await api.get("/v1/api-keys", headers=h)).json()["items"]
    async with audit_log_locked(database_urls["profile"]):
        erased = await api.delete(f"/v1/customers/{customer}", headers=h)
        issued = await api.post("/v1/api-keys", json={"name": "x", "scopes": ["read"]}, headers=h)
        adjusted = await api.post(
            f"/v1/customers/{customer}/points/adjustments", json={"points": 7, "reason": "x"}, headers=h
        )
        for refused in (erased, issued, adjusted):
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["reason"] == "AUDIT_UNAVAILABLE"
    # Nothing happened: the customer is there, no key was made, no points moved, nothing recorded.
    assert (await api.get(f"/v1/customers/{customer}", headers=h)).status_code == 200
    assert (await api.get("/v1/api-keys", headers=h)).json()["items"] == keys_before
    assert (await api.get(f"/v1/customers/{customer}/points", headers=h)).json()["balance"] == 0
    assert await audit_items(api, h) == []
    # With the log writable again, the same erasure goes through and is recorded once.
    assert (await api.delete(f"/v1/customers/{customer}", headers=h)).status_code == 200
    assert [(i["action"], i["outcome"]) for i in await audit_items(api, h)] == [
        ("customer.erase", "succeeded")
    ]


async def test_reading_the_log_needs_the_audit_scope_which_only_a_holder_hands_on(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    others = ["ingest", "read", "points", "privacy", "operate"]
    response = await api.post(
        f"/v1/admin/tenants/{tenant.tenant_id}/api-keys",
        json={"name": "no audit", "scopes": others},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    without = {"Authorization": f"Bearer {response.json()['api_key']}"}
    refused = await api.get("/v1/audit", headers=without)
    assert refused.status_code == 403
    assert (refused.json()["scope"], refused.json()["reason"]) == ("audit", "SCOPE_MISSING")
    # A key holding operate but not audit cannot mint a key that reads the log.
    minted = await api.post("/v1/api-keys", json={"name": "sneaky", "scopes": ["audit"]}, headers=without)
    assert minted.status_code == 403
    assert minted.json()["scope"] == "audit"
    # The tenant's first key holds audit; an admin-issued audit-only key reads the log and nothing else.
    assert (await api.get("/v1/audit", headers=tenant.headers)).status_code == 200
    auditor = await api.post(
        f"/v1/admin/tenants/{tenant.tenant_id}/api-keys",
        json={"name": "auditor", "scopes": ["audit"]},
        headers=ADMIN,
    )
    reader = {"Authorization": f"Bearer {auditor.json()['api_key']}"}
    assert (await api.get("/v1/audit", headers=reader)).status_code == 200
    assert (await api.get("/v1/customers", headers=reader)).status_code == 403


async def test_an_unknown_tenant_is_still_404_for_the_admin_not_503(api: httpx.AsyncClient) -> None:
    response = await api.post(
        f"/v1/admin/tenants/{uuid.uuid4()}/api-keys", json={"name": "x", "scopes": ["read"]}, headers=ADMIN
    )
    assert response.status_code == 404, response.text

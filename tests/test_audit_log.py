"""Reading and keeping the audit log: pages and filters, tenants walled off, an action without an
outcome read as unknown, the service's rules for entries, and the database refusing to change or
remove an entry, whoever asks."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import grpc
import httpx
import pytest

from gateway.audit import audit_target, detail_json
from patron.profile.v1 import audit_pb2, audit_pb2_grpc
from services.runtime.server import ServiceServer
from services.runtime.tenancy import TENANT_METADATA_KEY
from tests.conftest import ADMIN_TOKEN, TenantKey
from tests.test_audit import audit_items, first_key_actor

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def failed_exports(api: httpx.AsyncClient, headers: dict[str, str], count: int) -> list[str]:
    """``count`` exports of customers that do not exist: each is an audited (failed) action."""
    targets = [str(uuid.uuid4()) for _ in range(count)]
    for target in targets:
        assert (await api.get(f"/v1/customers/{target}/export", headers=headers)).status_code == 404
    return targets


async def test_the_log_pages_newest_first_and_filters_by_action_actor_target_and_time(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    h = tenant.headers
    issued = await api.post(
        f"/v1/admin/tenants/{tenant.tenant_id}/api-keys",
        json={"name": "second", "scopes": ["privacy"]},
        headers=ADMIN,
    )
    second = {"Authorization": f"Bearer {issued.json()['api_key']}"}
    mine = await failed_exports(api, h, 5)
    theirs = await failed_exports(api, second, 2)

    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = await api.get("/v1/audit", params=params, headers=h)
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    walked = [item for page in pages for item in page]
    assert [len(page) for page in pages] == [3, 3, 2]
    assert [item["target"] for item in walked] == [
        *reversed(theirs),
        *reversed(mine),
        issued.json()["key_id"],
    ]
    assert walked == await audit_items(api, h), "the pages are the whole list, in order"
    times = [item["occurred_at"] for item in walked]
    assert times == sorted(times, reverse=True)

    assert len(await audit_items(api, h, action="customer.export")) == 7
    assert [i["target"] for i in await audit_items(api, h, action="api_key.issue")] == [
        issued.json()["key_id"]
    ]
    assert [i["target"] for i in await audit_items(api, h, actor=f"key:{issued.json()['key_id']}")] == [
        *reversed(theirs)
    ]
    me = await first_key_actor(api, tenant)
    assert len(await audit_items(api, h, actor=me)) == 5
    assert len(await audit_items(api, h, actor="admin")) == 1
    assert [i["target"] for i in await audit_items(api, h, target=mine[2])] == [mine[2]]
    assert await audit_items(api, h, target=str(uuid.uuid4())) == []
    middle = walked[2]["occurred_at"]  # the newest of mine
    assert [i["target"] for i in await audit_items(api, h, **{"from": middle})] == [
        *reversed(theirs),
        mine[-1],
    ]
    assert len(await audit_items(api, h, to=middle)) == 5  # exclusive: four of mine and the issue
    assert await audit_items(api, h, **{"from": middle, "to": middle}) == []

    faults: list[tuple[dict[str, Any], str]] = [
        ({"action": "customer.delete"}, "action"),
        ({"actor": "bob"}, "actor"),
        ({"actor": "key:" + "A" * 36}, "actor"),
        ({"target": "not-a-uuid"}, "target"),
        ({"from": "yesterday"}, "from"),
        ({"limit": 501}, "limit"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
    ]
    for params, field in faults:
        response = await api.get("/v1/audit", params=params, headers=h)
        assert response.status_code == 422, (params, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field], params


async def test_another_tenant_never_sees_the_owners_entries(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    targets = await failed_exports(api, tenant.headers, 2)
    owners = await audit_items(api, tenant.headers)
    assert [item["target"] for item in owners] == [*reversed(targets)]
    intruder = other_tenant.headers
    assert await audit_items(api, intruder) == []
    assert await audit_items(api, intruder, target=targets[0]) == []
    assert await audit_items(api, intruder, actor=owners[0]["actor"]) == []
    # The owner's cursor read by the intruder gives the intruder's own (empty) log, nothing else.
    page = await api.get("/v1/audit", params={"limit": 1}, headers=tenant.headers)
    cursor = page.json()["next_cursor"]
    assert cursor
    stolen = await api.get("/v1/audit", params={"cursor": cursor}, headers=intruder)
    assert stolen.status_code == 200
    assert stolen.json()["items"] == []


async def test_an_action_without_an_outcome_reads_as_unknown_and_entries_follow_the_rules(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey, other_tenant: TenantKey
) -> None:
    def metadata(owner: TenantKey) -> tuple[tuple[str, str], ...]:
        return ((TENANT_METADATA_KEY, owner.tenant_id),)

    request_id, target = str(uuid.uuid4()), str(uuid.uuid4())
    requested = audit_pb2.RecordAuditRequest(
        request_id=request_id,
        phase="requested",
        actor="admin",
        action="customer.erase",
        target=target,
        client_address="10.0.0.7",
    )
    outcome = audit_pb2.RecordAuditRequest(
        request_id=request_id, phase="outcome", outcome="succeeded", status=200
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{services['profile'].bound_port}") as channel:
        log = audit_pb2_grpc.AuditServiceStub(channel)

        async def refused(request: audit_pb2.RecordAuditRequest, owner: TenantKey) -> grpc.StatusCode:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await log.Record(request, timeout=5, metadata=metadata(owner))
            return caught.value.code()

        assert await refused(outcome, tenant) == grpc.StatusCode.NOT_FOUND  # no requested entry yet
        await log.Record(requested, timeout=5, metadata=metadata(tenant))
        assert await refused(requested, tenant) == grpc.StatusCode.ALREADY_EXISTS
        # Another tenant cannot close (or see) the owner's action.
        assert await refused(outcome, other_tenant) == grpc.StatusCode.NOT_FOUND
        for wrong in (
            audit_pb2.RecordAuditRequest(
                request_id="x", phase="requested", actor="admin", action="customer.erase"
            ),
            audit_pb2.RecordAuditRequest(
                request_id=request_id, phase="requested", actor="alice@example.com", action="customer.erase"
            ),
            audit_pb2.RecordAuditRequest(request_id=request_id, phase="requested", actor="admin", action="x"),
            audit_pb2.RecordAuditRequest(
                request_id=request_id,
                phase="requested",
                actor="admin",
                action="customer.erase",
                target="13800001111",
            ),
            audit_pb2.RecordAuditRequest(
                request_id=request_id,
                phase="requested",
                actor="admin",
                action="customer.erase",
                detail_json="[1]",
            ),
            audit_pb2.RecordAuditRequest(
                request_id=request_id,
                phase="requested",
                actor="admin",
                action="customer.erase",
                detail_json='{"a": "' + "x" * 5000 + '"}',
            ),
            audit_pb2.RecordAuditRequest(request_id=request_id, phase="outcome", outcome="maybe", status=200),
            audit_pb2.RecordAuditRequest(request_id=request_id, phase="outcome", outcome="failed", status=42),
        ):
            assert await refused(wrong, tenant) == grpc.StatusCode.INVALID_ARGUMENT, wrong

        [unknown] = await audit_items(api, tenant.headers)
        assert (unknown["outcome"], unknown["status"], unknown["finished_at"]) == ("unknown", None, None)
        assert (unknown["actor"], unknown["target"], unknown["client_address"]) == (
            "admin",
            target,
            "10.0.0.7",
        )

        await log.Record(outcome, timeout=5, metadata=metadata(tenant))
        assert await refused(outcome, tenant) == grpc.StatusCode.ALREADY_EXISTS  # one outcome only
    [closed] = await audit_items(api, tenant.headers)
    assert (closed["entry_id"], closed["outcome"], closed["status"]) == (
        unknown["entry_id"],
        "succeeded",
        200,
    )
    assert closed["finished_at"] >= closed["occurred_at"]


async def test_the_database_refuses_to_change_or_remove_an_entry(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    await failed_exports(api, tenant.headers, 1)
    # The role the profile service itself connects as (in the tests, the server's superuser).
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        count = await connection.fetchval("SELECT count(*) FROM audit_log")
        assert count >= 2
        for statement in (
            "UPDATE audit_log SET outcome = 'succeeded', status = 200 WHERE phase = 'outcome'",
            "UPDATE audit_log SET actor = 'admin' WHERE false",  # even when no row matches
            "DELETE FROM audit_log WHERE phase = 'requested'",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await connection.execute(statement)
        assert await connection.fetchval("SELECT count(*) FROM audit_log") == count
        outcomes = await connection.fetch(
            "SELECT outcome, status FROM audit_log WHERE tenant_id = $1 AND phase = 'outcome'",
            uuid.UUID(tenant.tenant_id),
        )
        assert [tuple(row) for row in outcomes] == [("failed", 404)]
    finally:
        await connection.close()


def test_the_gateway_keeps_client_text_and_oversized_details_out_of_the_log() -> None:
    some = uuid.uuid4()
    assert audit_target(str(some).upper()) == str(some)
    assert audit_target(some) == str(some)
    for text in ("13800001111", "alice@example.com", "", None):
        assert audit_target(text) == ""
    assert json.loads(detail_json({"points": -5, "gone": None, "at": some})) == {
        "points": -5,
        "at": str(some),
    }
    huge = json.loads(detail_json({"ids": [str(uuid.uuid4()) for _ in range(200)], "n": 200}))
    assert huge["fields"] == ["ids", "n"]
    assert huge["oversized_bytes"] > 4096

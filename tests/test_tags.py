"""Tag taxonomy through the gateway: CRUD, validation, duplicates, limits, deletion in use, tenancy.

The helpers here are shared with tests/test_customer_tags.py and tests/test_consent.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import httpx
import pytest

from patron.events.v1 import envelope_pb2, profile_events_pb2
from patron.profile.v1 import tags_pb2_grpc
from services.profile.domain import tags as tag_rules
from services.runtime.server import ServiceServer
from tests.conftest import TenantKey

Json = dict[str, Any]


def fields_of(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {error["field"] for error in response.json()["errors"]}


async def new_customer(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    body = {"identities": [{"type": "app_user_id", "value": f"tags-{uuid.uuid4().hex}"}]}
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    customer_id: str = response.json()["customer_id"]
    return customer_id


async def new_group(
    api: httpx.AsyncClient, tenant: TenantKey, kind: str = "preference", name: str = ""
) -> Json:
    body = {"kind": kind, "name": name or f"group {uuid.uuid4().hex[:8]}"}
    response = await api.post("/v1/tag-groups", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    group: Json = response.json()
    return group


async def new_tag(api: httpx.AsyncClient, tenant: TenantKey, group_id: str, name: str = "") -> Json:
    body = {"group_id": group_id, "name": name or f"tag {uuid.uuid4().hex[:8]}"}
    response = await api.post("/v1/tags", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    tag: Json = response.json()
    return tag


@pytest.fixture
async def profile_db(database_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_urls["profile"])
    yield connection
    await connection.close()


async def tag_events(db: asyncpg.Connection, customer_id: str) -> list[profile_events_pb2.TagChanged]:
    """The tag.changed payloads in the outbox for one customer, in the order they were appended."""
    rows = await db.fetch(
        "SELECT envelope FROM outbox WHERE type = 'tag.changed' AND customer_id = $1 ORDER BY id",
        uuid.UUID(customer_id),
    )
    return [envelope_pb2.EventEnvelope.FromString(row["envelope"]).tag_changed for row in rows]


def tag_stub(services: dict[str, ServiceServer]) -> tuple[grpc.aio.Channel, tags_pb2_grpc.TagServiceStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{services['profile'].bound_port}")
    return channel, tags_pb2_grpc.TagServiceStub(channel)


# --- taxonomy ------------------------------------------------------------------------------------


async def test_taxonomy_crud(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    group = await new_group(api, tenant, "predictive", "Churn risk")
    assert (group["kind"], group["name"], group["tag_count"]) == ("predictive", "Churn risk", 0)
    tag = await new_tag(api, tenant, group["group_id"], "High churn risk")
    assert (tag["group_id"], tag["kind"]) == (group["group_id"], "predictive")

    fetched = await api.get(f"/v1/tag-groups/{group['group_id']}", headers=tenant.headers)
    assert fetched.json()["tag_count"] == 1
    listed = await api.get("/v1/tag-groups", params={"kind": "predictive"}, headers=tenant.headers)
    assert [g["group_id"] for g in listed.json()["items"]] == [group["group_id"]]
    assert listed.json()["next_cursor"] is None
    assert (await api.get("/v1/tag-groups", params={"kind": "static"}, headers=tenant.headers)).json()[
        "items"
    ] == []

    renamed = await api.patch(
        f"/v1/tag-groups/{group['group_id']}",
        json={"name": "Churn", "description": "from the scoring model"},
        headers=tenant.headers,
    )
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Churn", "from the scoring model")

    other = await new_group(api, tenant, "dynamic")
    moved = await api.patch(
        f"/v1/tags/{tag['tag_id']}",
        json={"group_id": other["group_id"], "name": "Churning"},
        headers=tenant.headers,
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["group_id"], moved.json()["kind"], moved.json()["name"]) == (
        other["group_id"],
        "dynamic",
        "Churning",
    )
    got = await api.get(f"/v1/tags/{tag['tag_id']}", headers=tenant.headers)
    assert got.json()["name"] == "Churning"
    by_group = await api.get("/v1/tags", params={"group_id": other["group_id"]}, headers=tenant.headers)
    assert [t["tag_id"] for t in by_group.json()["items"]] == [tag["tag_id"]]

    held = await api.delete(f"/v1/tag-groups/{other['group_id']}", headers=tenant.headers)
    assert held.status_code == 409
    assert held.json()["reason"] == "TAG_GROUP_NOT_EMPTY"
    assert (await api.delete(f"/v1/tags/{tag['tag_id']}", headers=tenant.headers)).status_code == 204
    assert (await api.get(f"/v1/tags/{tag['tag_id']}", headers=tenant.headers)).status_code == 404
    assert (await api.delete(f"/v1/tags/{tag['tag_id']}", headers=tenant.headers)).status_code == 404
    assert (
        await api.delete(f"/v1/tag-groups/{other['group_id']}", headers=tenant.headers)
    ).status_code == 204
    assert (await api.get(f"/v1/tag-groups/{other['group_id']}", headers=tenant.headers)).status_code == 404


async def test_taxonomy_validation_names_each_field(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    bad_group = {"kind": "fuzzy", "name": "", "description": "x" * 501, "colour": "red"}
    response = await api.post("/v1/tag-groups", json=bad_group, headers=tenant.headers)
    assert fields_of(response) == {"kind", "name", "description", "colour"}
    # Blank after trimming and non-printable names are the service's rules, reported the same way.
    response = await api.post(
        "/v1/tag-groups", json={"kind": "static", "name": "   "}, headers=tenant.headers
    )
    assert fields_of(response) == {"name"}
    response = await api.post(
        "/v1/tag-groups", json={"kind": "static", "name": "a\tb"}, headers=tenant.headers
    )
    assert fields_of(response) == {"name"}

    response = await api.post("/v1/tags", json={"group_id": "nope", "name": "x" * 65}, headers=tenant.headers)
    assert fields_of(response) == {"group_id", "name"}
    response = await api.post(
        "/v1/tags", json={"group_id": str(uuid.uuid4()), "name": "x"}, headers=tenant.headers
    )
    assert fields_of(response) == {"group_id"}

    for params, field in [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"kind": "weird"}, "kind"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"group_id": "12"}, "group_id"),
    ]:
        assert fields_of(await api.get("/v1/tags", params=params, headers=tenant.headers)) == {field}
    assert (await api.post("/v1/tags", content=b"{", headers=tenant.headers)).status_code == 422
    assert (await api.get("/v1/tags/not-a-uuid", headers=tenant.headers)).status_code == 404


async def test_duplicate_names_answer_409(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    group = await new_group(api, tenant, "static", "Region")
    clash = await api.post(
        "/v1/tag-groups", json={"kind": "static", "name": " region "}, headers=tenant.headers
    )
    assert clash.status_code == 409
    assert clash.headers["content-type"] == "application/problem+json"
    await new_group(api, tenant, "dynamic", "Region")  # another kind is another parent

    await new_tag(api, tenant, group["group_id"], "Zhejiang")
    second = await new_tag(api, tenant, group["group_id"], "Jiangsu")
    again = await api.post(
        "/v1/tags", json={"group_id": group["group_id"], "name": "ZHEJIANG"}, headers=tenant.headers
    )
    assert again.status_code == 409
    rename = await api.patch(
        f"/v1/tags/{second['tag_id']}", json={"name": "zhejiang"}, headers=tenant.headers
    )
    assert rename.status_code == 409
    other_group = await new_group(api, tenant, "static")
    await new_tag(api, tenant, other_group["group_id"], "Zhejiang")  # another group is another parent

    # A deleted tag's name is free again.
    assert (await api.delete(f"/v1/tags/{second['tag_id']}", headers=tenant.headers)).status_code == 204
    await new_tag(api, tenant, group["group_id"], "Jiangsu")


async def test_group_and_kind_limits_hold_under_concurrency(
    api: httpx.AsyncClient, tenant: TenantKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tag_rules, "MAX_TAGS_PER_GROUP", 2)
    monkeypatch.setattr(tag_rules, "MAX_GROUPS_PER_KIND", 2)
    group = await new_group(api, tenant, "static")
    created = await asyncio.gather(
        *(
            api.post(
                "/v1/tags", json={"group_id": group["group_id"], "name": f"t{i}"}, headers=tenant.headers
            )
            for i in range(5)
        )
    )
    assert sorted(r.status_code for r in created) == [201, 201, 409, 409, 409]
    assert {r.json()["reason"] for r in created if r.status_code == 409} == {"TAG_GROUP_FULL"}
    groups = await asyncio.gather(
        *(
            api.post("/v1/tag-groups", json={"kind": "static", "name": f"g{i}"}, headers=tenant.headers)
            for i in range(3)
        )
    )
    assert sorted(r.status_code for r in groups) == [201, 409, 409]


async def test_tag_listing_pages_with_an_opaque_cursor(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    group = await new_group(api, tenant)
    names = [f"tag {i}" for i in range(5)]
    await asyncio.gather(*(new_tag(api, tenant, group["group_id"], name) for name in names))
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"group_id": group["group_id"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/tags", params=params, headers=tenant.headers)).json()
        seen += [t["name"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names


# --- deleting tags in use, tenancy ---------------------------------------------------------------


async def test_deleting_a_tag_removes_it_from_customers(
    api: httpx.AsyncClient, tenant: TenantKey, profile_db: asyncpg.Connection
) -> None:
    tag = await new_tag(api, tenant, (await new_group(api, tenant))["group_id"])
    customers = [await new_customer(api, tenant) for _ in range(2)]
    for customer in customers:
        await api.put(f"/v1/customers/{customer}/tags/{tag['tag_id']}", headers=tenant.headers)
    assert (await api.delete(f"/v1/tags/{tag['tag_id']}", headers=tenant.headers)).status_code == 204
    for customer in customers:
        assert [(e.applied, e.source) for e in await tag_events(profile_db, customer)] == [
            (True, "manual"),
            (False, "manual"),
        ]
        listed = await api.get(f"/v1/customers/{customer}/tags", headers=tenant.headers)
        assert listed.json()["items"] == []
    gone = await api.put(f"/v1/customers/{customers[0]}/tags/{tag['tag_id']}", headers=tenant.headers)
    assert gone.status_code == 404


async def test_a_tag_deleted_while_being_applied_leaves_no_assignment(
    api: httpx.AsyncClient, tenant: TenantKey, profile_db: asyncpg.Connection
) -> None:
    tag = await new_tag(api, tenant, (await new_group(api, tenant))["group_id"])
    customers = [await new_customer(api, tenant) for _ in range(6)]
    await api.put(f"/v1/customers/{customers[0]}/tags/{tag['tag_id']}", headers=tenant.headers)
    calls = [
        api.put(f"/v1/customers/{c}/tags/{tag['tag_id']}", headers=tenant.headers) for c in customers[1:]
    ]
    deleted, *tagged = await asyncio.gather(
        api.delete(f"/v1/tags/{tag['tag_id']}", headers=tenant.headers), *calls
    )
    assert deleted.status_code == 204
    assert {r.status_code for r in tagged} <= {200, 404}
    left = await profile_db.fetchval(
        "SELECT count(*) FROM customer_tags WHERE tag_id = $1", uuid.UUID(tag["tag_id"])
    )
    assert left == 0
    for customer in customers:  # every customer that got the tag lost it again, visibly
        assert [e.applied for e in await tag_events(profile_db, customer)] in ([], [True, False])


async def test_another_tenants_ids_answer_404(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    group = await new_group(api, tenant)
    tag = await new_tag(api, tenant, group["group_id"])
    customer = await new_customer(api, tenant)
    await api.put(f"/v1/customers/{customer}/tags/{tag['tag_id']}", headers=tenant.headers)
    theirs = await new_customer(api, other_tenant)
    their_tag = await new_tag(api, other_tenant, (await new_group(api, other_tenant))["group_id"])
    key = other_tenant.headers

    assert (await api.get(f"/v1/tag-groups/{group['group_id']}", headers=key)).status_code == 404
    assert (
        await api.patch(f"/v1/tag-groups/{group['group_id']}", json={"name": "x"}, headers=key)
    ).status_code == 404
    assert (await api.delete(f"/v1/tag-groups/{group['group_id']}", headers=key)).status_code == 404
    assert (await api.get(f"/v1/tags/{tag['tag_id']}", headers=key)).status_code == 404
    assert (await api.patch(f"/v1/tags/{tag['tag_id']}", json={"name": "x"}, headers=key)).status_code == 404
    assert (await api.delete(f"/v1/tags/{tag['tag_id']}", headers=key)).status_code == 404
    assert (await api.get(f"/v1/customers/{customer}/tags", headers=key)).status_code == 404
    assert (
        await api.put(f"/v1/customers/{customer}/tags/{their_tag['tag_id']}", headers=key)
    ).status_code == 404
    assert (await api.put(f"/v1/customers/{theirs}/tags/{tag['tag_id']}", headers=key)).status_code == 404
    assert (
        await api.delete(f"/v1/customers/{customer}/tags/{their_tag['tag_id']}", headers=key)
    ).status_code == 404
    response = await api.post("/v1/tags", json={"group_id": group["group_id"], "name": "x"}, headers=key)
    assert fields_of(response) == {"group_id"}
    listed = (await api.get("/v1/tags", headers=key)).json()["items"]
    assert tag["tag_id"] not in {t["tag_id"] for t in listed}
    # Nothing of the first tenant changed.
    mine = (await api.get(f"/v1/customers/{customer}/tags", headers=tenant.headers)).json()["items"]
    assert [t["tag_id"] for t in mine] == [tag["tag_id"]]

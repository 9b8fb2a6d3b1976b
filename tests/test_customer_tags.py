"""Tags on customers: manual tagging (idempotent, with expiry), computed tags over gRPC, merges."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import httpx
import pytest

from patron.profile.v1 import tags_pb2
from services.runtime.grpc_errors import parse_status_details
from services.runtime.server import ServiceServer
from tests.conftest import TenantKey
from tests.test_tags import fields_of, new_customer, new_group, new_tag, tag_events, tag_stub


@pytest.fixture
async def profile_db(database_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_urls["profile"])
    yield connection
    await connection.close()


async def test_manual_tagging_is_idempotent_under_concurrency(
    api: httpx.AsyncClient, tenant: TenantKey, profile_db: asyncpg.Connection
) -> None:
    customer = await new_customer(api, tenant)
    tag = await new_tag(api, tenant, (await new_group(api, tenant))["group_id"], "Likes tea")
    path = f"/v1/customers/{customer}/tags/{tag['tag_id']}"

    responses = await asyncio.gather(*(api.put(path, headers=tenant.headers) for _ in range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert sorted(r.json()["changed"] for r in responses) == [False] * 7 + [True]
    events = await tag_events(profile_db, customer)
    assert len(events) == 1
    assert (events[0].tag_id, events[0].tag_name, events[0].applied, events[0].source) == (
        tag["tag_id"],
        "Likes tea",
        True,
        "manual",
    )
    assert not events[0].HasField("expires_at")

    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    with_expiry = await api.put(path, json={"expires_at": expires.isoformat()}, headers=tenant.headers)
    assert with_expiry.json()["changed"] is True
    assert datetime.fromisoformat(with_expiry.json()["expires_at"]) == expires
    same = await api.put(path, json={"expires_at": expires.isoformat()}, headers=tenant.headers)
    assert same.json()["changed"] is False

    removals = await asyncio.gather(*(api.delete(path, headers=tenant.headers) for _ in range(4)))
    assert [r.status_code for r in removals] == [204] * 4
    events = await tag_events(profile_db, customer)
    assert [
        (e.applied, e.expires_at.ToDatetime(tzinfo=UTC) if e.HasField("expires_at") else None) for e in events
    ] == [
        (True, None),
        (True, expires),
        (False, None),
    ]
    listed = await api.get(f"/v1/customers/{customer}/tags", headers=tenant.headers)
    assert listed.json() == {"items": [], "next_cursor": None}


async def test_an_expired_tag_is_not_listed(
    api: httpx.AsyncClient, tenant: TenantKey, profile_db: asyncpg.Connection
) -> None:
    customer = await new_customer(api, tenant)
    group = await new_group(api, tenant, "dynamic")
    lasting, fleeting = [await new_tag(api, tenant, group["group_id"]) for _ in range(2)]
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    await api.put(f"/v1/customers/{customer}/tags/{lasting['tag_id']}", headers=tenant.headers)
    await api.put(
        f"/v1/customers/{customer}/tags/{fleeting['tag_id']}",
        json={"expires_at": expires},
        headers=tenant.headers,
    )
    listed = (await api.get(f"/v1/customers/{customer}/tags", headers=tenant.headers)).json()["items"]
    assert {t["tag_id"] for t in listed} == {lasting["tag_id"], fleeting["tag_id"]}

    # Time passes (moved in the database rather than waited for): the read hides the expired tag.
    await profile_db.execute(
        "UPDATE customer_tags SET expires_at = now() - interval '1 second' "
        "WHERE customer_id = $1 AND tag_id = $2",
        uuid.UUID(customer),
        uuid.UUID(fleeting["tag_id"]),
    )
    listed = (await api.get(f"/v1/customers/{customer}/tags", headers=tenant.headers)).json()["items"]
    assert [t["tag_id"] for t in listed] == [lasting["tag_id"]]
    # Removing the expired tag is no change and emits nothing; tagging again re-applies it.
    emitted = len(await tag_events(profile_db, customer))
    path = f"/v1/customers/{customer}/tags/{fleeting['tag_id']}"
    assert (await api.delete(path, headers=tenant.headers)).status_code == 204
    assert len(await tag_events(profile_db, customer)) == emitted
    again = await api.put(path, headers=tenant.headers)
    assert again.json()["changed"] is True
    assert len(await tag_events(profile_db, customer)) == emitted + 1

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = await api.put(
        f"/v1/customers/{customer}/tags/{lasting['tag_id']}",
        json={"expires_at": past},
        headers=tenant.headers,
    )
    assert fields_of(response) == {"expires_at"}
    naive = await api.put(
        f"/v1/customers/{customer}/tags/{lasting['tag_id']}",
        json={"expires_at": "2030-01-01T00:00:00"},
        headers=tenant.headers,
    )
    assert fields_of(naive) == {"expires_at"}
    before_year_one = await api.put(
        f"/v1/customers/{customer}/tags/{lasting['tag_id']}",
        json={"expires_at": "0001-01-01T00:00:00+10:00"},
        headers=tenant.headers,
    )
    assert fields_of(before_year_one) == {"expires_at"}


async def test_computed_tags_over_grpc_record_their_source(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    services: dict[str, ServiceServer],
    profile_db: asyncpg.Connection,
) -> None:
    customer = await new_customer(api, tenant)
    group = await new_group(api, tenant, "predictive")
    a, b, c, manual = [await new_tag(api, tenant, group["group_id"], name) for name in "abcd"]
    await api.put(f"/v1/customers/{customer}/tags/{manual['tag_id']}", headers=tenant.headers)
    metadata = (("x-patron-tenant", tenant.tenant_id),)
    channel, stub = tag_stub(services)
    async with channel:

        async def compute(tag_ids: list[str], replace: bool) -> tags_pb2.SetComputedTagsResponse:
            request = tags_pb2.SetComputedTagsRequest(
                customer_id=customer, source="scoring", tag_ids=tag_ids, replace=replace
            )
            response: tags_pb2.SetComputedTagsResponse = await stub.SetComputedTags(
                request, metadata=metadata, timeout=5
            )
            return response

        first = await compute([a["tag_id"], b["tag_id"]], replace=False)
        assert sorted(first.applied_tag_ids) == sorted([a["tag_id"], b["tag_id"]])
        repeat = await compute([a["tag_id"], b["tag_id"]], replace=False)
        assert (list(repeat.applied_tag_ids), repeat.unchanged) == ([], 2)
        replaced = await compute([b["tag_id"], c["tag_id"]], replace=True)
        assert (list(replaced.applied_tag_ids), list(replaced.removed_tag_ids), replaced.unchanged) == (
            [c["tag_id"]],
            [a["tag_id"]],
            1,
        )

        listed = (await api.get(f"/v1/customers/{customer}/tags", headers=tenant.headers)).json()["items"]
        assert {(t["name"], t["source"]) for t in listed} == {
            ("b", "scoring"),
            ("c", "scoring"),
            ("d", "manual"),
        }
        computed_events = [e for e in await tag_events(profile_db, customer) if e.source == "scoring"]
        assert [(e.tag_name, e.applied) for e in computed_events][-2:] == [("c", True), ("a", False)]
        assert len(computed_events) == 4

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SetComputedTags(
                tags_pb2.SetComputedTagsRequest(
                    customer_id=customer,
                    source="manual",
                    tag_ids=[a["tag_id"], str(uuid.uuid4()), a["tag_id"]],
                ),
                metadata=metadata,
                timeout=5,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        _, _, violations = parse_status_details(caught.value.trailing_metadata())
        assert {v.field for v in violations} == {"source", "tag_ids[2]"}
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SetComputedTags(
                tags_pb2.SetComputedTagsRequest(
                    customer_id=customer, source="scoring", tag_ids=[str(uuid.uuid4())]
                ),
                metadata=metadata,
                timeout=5,
            )
        _, _, violations = parse_status_details(caught.value.trailing_metadata())
        assert [v.field for v in violations] == ["tag_ids[0]"]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SetComputedTags(
                tags_pb2.SetComputedTagsRequest(customer_id=str(uuid.uuid4()), source="scoring"),
                metadata=metadata,
                timeout=5,
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        too_many = [str(uuid.uuid4()) for _ in range(501)]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SetComputedTags(
                tags_pb2.SetComputedTagsRequest(customer_id=customer, source="scoring", tag_ids=too_many),
                metadata=metadata,
                timeout=5,
            )
        _, _, violations = parse_status_details(caught.value.trailing_metadata())
        assert [v.field for v in violations] == ["tag_ids"]


async def test_tags_follow_a_merge_and_go_with_an_erasure(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    group = await new_group(api, tenant)
    shared, own = [await new_tag(api, tenant, group["group_id"]) for _ in range(2)]
    survivor, merged = await new_customer(api, tenant), await new_customer(api, tenant)
    await api.put(f"/v1/customers/{survivor}/tags/{shared['tag_id']}", headers=tenant.headers)
    for tag in (shared, own):
        await api.put(f"/v1/customers/{merged}/tags/{tag['tag_id']}", headers=tenant.headers)
    response = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    for customer in (survivor, merged):  # a merged-away id answers for the survivor
        listed = (await api.get(f"/v1/customers/{customer}/tags", headers=tenant.headers)).json()["items"]
        assert {t["tag_id"] for t in listed} == {shared["tag_id"], own["tag_id"]}
    exported = (await api.get(f"/v1/customers/{survivor}/export", headers=tenant.headers)).json()
    assert {t["tag_id"] for t in exported["tags"]} == {shared["tag_id"], own["tag_id"]}

    assert (await api.delete(f"/v1/customers/{survivor}", headers=tenant.headers)).status_code == 200
    assert (await api.get(f"/v1/customers/{survivor}/tags", headers=tenant.headers)).status_code == 404

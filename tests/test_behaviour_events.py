"""Behaviour events through the gateway and the real profile service: POST /v1/events and listings."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from patron.profile.v1 import behaviour_pb2, behaviour_pb2_grpc
from services.runtime.server import ServiceServer
from services.runtime.tenancy import TENANT_METADATA_KEY
from tests.conftest import TenantKey

NOW = datetime.now(UTC).replace(microsecond=0)


def event(event_id: str, customer_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"event_id": event_id, "type": "view", "occurred_at": NOW.isoformat()}
    if customer_id is not None:
        body["customer_id"] = customer_id
    body.update(fields)
    return body


async def customer(api: httpx.AsyncClient, tenant: TenantKey, app_user_id: str) -> str:
    body = {"identities": [{"type": "app_user_id", "value": app_user_id}]}
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["customer_id"])


async def send(api: httpx.AsyncClient, tenant: TenantKey, events: list[Any]) -> httpx.Response:
    return await api.post("/v1/events", json={"events": events}, headers=tenant.headers)


async def stored(database_urls: dict[str, str], tenant: TenantKey) -> dict[str, asyncpg.Record]:
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        rows = await connection.fetch(
            "SELECT * FROM behaviour_events WHERE tenant_id = $1", uuid.UUID(tenant.tenant_id)
        )
    finally:
        await connection.close()
    return {row["event_id"]: row for row in rows}


async def recorded_in_outbox(
    database_urls: dict[str, str], tenant: TenantKey
) -> list[envelope_pb2.EventEnvelope]:
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        rows = await connection.fetch(
            "SELECT envelope FROM outbox WHERE tenant_id = $1 AND type = 'event.recorded'",
            uuid.UUID(tenant.tenant_id),
        )
    finally:
        await connection.close()
    return [envelope_pb2.EventEnvelope.FromString(row["envelope"]) for row in rows]


# --- storing once -----------------------------------------------------------------------------


async def test_a_batch_is_stored_and_each_new_event_is_emitted_once(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    alice = await customer(api, tenant, "alice")
    batch = [
        event("e1", alice, properties={"sku": "T-1", "price_minor": 1999}),
        event("e2", alice, type="add_to_cart"),
        event("e3", alice, type="custom.coupon_viewed.banner"),
    ]
    response = await send(api, tenant, batch)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "accepted": 3,
        "duplicates": 0,
        "rejected": [],
        "results": ["accepted", "accepted", "accepted"],
    }
    rows = await stored(database_urls, tenant)
    assert set(rows) == {"e1", "e2", "e3"}
    assert json.loads(rows["e1"]["properties"]) == {"sku": "T-1", "price_minor": 1999}
    assert rows["e1"]["occurred_at"] == NOW
    assert str(rows["e2"]["customer_id"]) == alice
    envelopes = await recorded_in_outbox(database_urls, tenant)
    assert sorted(e.event_recorded.client_event_id for e in envelopes) == ["e1", "e2", "e3"]
    first = next(e for e in envelopes if e.event_recorded.client_event_id == "e1")
    assert first.customer_id == alice
    assert first.event_recorded.event_type == "view"
    assert json.loads(first.event_recorded.properties_json) == {"sku": "T-1", "price_minor": 1999}
    assert first.occurred_at.ToDatetime(tzinfo=UTC) == NOW


async def test_a_resent_or_repeated_event_id_is_a_duplicate(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    alice = await customer(api, tenant, "alice")
    first = await send(api, tenant, [event("e1", alice), event("e2", alice)])
    assert first.json()["accepted"] == 2
    again = await send(
        api, tenant, [event("e2", alice, type="share"), event("e3", alice), event("e3", alice, type="search")]
    )
    assert again.json() == {
        "accepted": 1,
        "duplicates": 2,
        "rejected": [],
        "results": ["duplicate", "accepted", "duplicate"],
    }
    rows = await stored(database_urls, tenant)
    assert set(rows) == {"e1", "e2", "e3"}
    assert (rows["e2"]["type"], rows["e3"]["type"]) == ("view", "view"), "the first one stored wins"
    assert len(await recorded_in_outbox(database_urls, tenant)) == 3


async def test_concurrent_identical_batches_store_and_emit_each_event_once(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    alice = await customer(api, tenant, "alice")
    batch = [event(f"c{i}", alice) for i in range(50)]
    answers = await asyncio.gather(*(send(api, tenant, batch) for _ in range(6)))
    bodies = [a.json() for a in answers]
    assert sum(b["accepted"] for b in bodies) == 50
    assert sum(b["duplicates"] for b in bodies) == 250
    assert len(await stored(database_urls, tenant)) == 50
    assert len(await recorded_in_outbox(database_urls, tenant)) == 50


async def test_overlapping_batches_in_opposite_orders_do_not_deadlock(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    alice = await customer(api, tenant, "alice")
    forward = [event(f"o{i:03d}", alice) for i in range(200)]
    answers = await asyncio.gather(*(send(api, tenant, b) for b in (forward, forward[::-1]) * 3))
    assert all(a.status_code == 200 for a in answers)
    assert sum(a.json()["accepted"] for a in answers) == 200
    assert len(await stored(database_urls, tenant)) == 200


async def test_replaying_any_batch_stores_nothing_more(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    """Property: the first well-formed occurrence of an id is accepted, the rest and every replay are
    duplicates, the malformed are rejected, and what is stored is exactly the well-formed ids."""
    alice = await customer(api, tenant, "alice")
    loop = asyncio.get_running_loop()

    async def example(batch: list[tuple[str, bool]]) -> None:
        prefix = uuid.uuid4().hex[:8]
        events = [event(f"{prefix}-{i}", alice, **({} if ok else {"type": "Bad"})) for i, ok in batch]
        first = (await send(api, tenant, events)).json()
        again = (await send(api, tenant, events)).json()
        expected, seen = [], set()
        for event_id, ok in batch:
            expected.append("rejected" if not ok else "duplicate" if event_id in seen else "accepted")
            seen |= {event_id} if ok else set()
        assert first["results"] == expected
        assert first["accepted"] == len(seen)
        assert again["results"] == [r if r == "rejected" else "duplicate" for r in expected]
        ours = {e for e in await stored(database_urls, tenant) if e.startswith(prefix)}
        assert ours == {f"{prefix}-{i}" for i in seen}

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(st.tuples(st.sampled_from("abcde"), st.booleans()), min_size=1, max_size=12))
    def check(batch: list[tuple[str, bool]]) -> None:
        asyncio.run_coroutine_threadsafe(example(batch), loop).result(timeout=60)

    await asyncio.to_thread(check)


async def test_the_same_event_id_in_two_tenants_is_two_events(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    mine, theirs = await customer(api, tenant, "u"), await customer(api, other_tenant, "u")
    assert (await send(api, tenant, [event("same", mine)])).json()["accepted"] == 1
    assert (await send(api, other_tenant, [event("same", theirs)])).json()["accepted"] == 1


# --- customers --------------------------------------------------------------------------------


async def test_identities_resolve_each_set_once_and_create_unknown_customers(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    known = await customer(api, tenant, "known")
    phone_a = [{"type": "phone", "value": "138 0013 8000"}]
    phone_b = [{"type": "phone", "value": "+8613800138000"}]
    batch = [
        event("i1", identities=phone_a),
        event("i2", identities=phone_b),
        event("i3", identities=[{"type": "app_user_id", "value": "known"}]),
        event("i4", identities=phone_a),
    ]
    body = (await send(api, tenant, batch)).json()
    assert body["accepted"] == 4, body
    rows = await stored(database_urls, tenant)
    assert rows["i1"]["customer_id"] == rows["i2"]["customer_id"] == rows["i4"]["customer_id"]
    assert str(rows["i3"]["customer_id"]) == known
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        created = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND type = 'customer.created'",
            uuid.UUID(tenant.tenant_id),
        )
    finally:
        await connection.close()
    assert created == 2, "the known customer and the one new phone"


async def test_a_batch_applies_identifys_rules_to_a_set_that_adds_an_identity(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    """Sets are resolved together (known in one read, fresh in one transaction), but a set that would
    attach an identity to a known customer still goes through identify: the e-mail is attached."""
    known = await customer(api, tenant, "attach-me")
    adds_email = [
        {"type": "app_user_id", "value": "attach-me"},
        {"type": "email", "value": "Attach.Me@Example.com"},
    ]
    batch = [
        event("a1", identities=adds_email),
        event("a2", identities=[{"type": "app_user_id", "value": "attach-me"}]),
        event("a3", identities=[{"type": "email", "value": "fresh@example.com"}]),
        event("a4", identities=[{"type": "email", "value": "fresh@example.com"}]),
    ]
    body = (await send(api, tenant, batch)).json()
    assert body["accepted"] == 4, body
    rows = await stored(database_urls, tenant)
    assert str(rows["a1"]["customer_id"]) == str(rows["a2"]["customer_id"]) == known
    assert rows["a3"]["customer_id"] == rows["a4"]["customer_id"]
    assert str(rows["a3"]["customer_id"]) != known
    found = (await api.get(f"/v1/customers/{known}", headers=tenant.headers)).json()
    assert {i["type"] for i in found["identities"]} == {"app_user_id", "email"}, found


async def test_a_merge_moves_events_and_a_merged_away_id_records_for_the_survivor(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    survivor, merged = await customer(api, tenant, "survivor"), await customer(api, tenant, "merged")
    assert (await send(api, tenant, [event("before", merged)])).json()["accepted"] == 1
    merge = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert merge.status_code == 200, merge.text
    assert (await send(api, tenant, [event("after", merged)])).json()["accepted"] == 1
    rows = await stored(database_urls, tenant)
    assert {str(rows[e]["customer_id"]) for e in ("before", "after")} == {survivor}
    listed = (await api.get(f"/v1/customers/{merged}/events", headers=tenant.headers)).json()
    assert listed["customer_id"] == survivor
    assert sorted(e["event_id"] for e in listed["items"]) == ["after", "before"]


async def test_an_erased_customer_is_exported_then_erased_with_their_events(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    alice = await customer(api, tenant, "alice")
    assert (await send(api, tenant, [event("x1", alice, properties={"sku": "T-1"})])).json()["accepted"] == 1
    exported = (await api.get(f"/v1/customers/{alice}/export", headers=tenant.headers)).json()
    assert [(e["event_id"], e["properties"]) for e in exported["behaviour_events"]] == [
        ("x1", {"sku": "T-1"})
    ]
    assert (await api.delete(f"/v1/customers/{alice}", headers=tenant.headers)).status_code == 200
    assert await stored(database_urls, tenant) == {}
    late = (await send(api, tenant, [event("x2", alice)])).json()
    assert late["rejected"] == [
        {"index": 0, "errors": [{"field": "events[0].customer_id", "message": "customer not found"}]}
    ]
    assert (await api.get(f"/v1/customers/{alice}/events", headers=tenant.headers)).status_code == 404


# --- per-event faults -------------------------------------------------------------------------


async def test_bad_events_are_rejected_alone_and_named_by_field(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    alice = await customer(api, tenant, "alice")
    stranger = await customer(api, other_tenant, "stranger")
    too_deep = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    batch: list[Any] = [
        event("ok-1", alice),
        event("x" * 129, alice),
        event("bad-type", alice, type="custom.Shouting"),
        event("naive", alice, occurred_at="2024-05-01T12:00:00"),
        event("future", alice, occurred_at=(NOW + timedelta(minutes=10)).isoformat()),
        event("ancient", alice, occurred_at="1999-12-31T23:59:59Z"),
        event("both", alice, identities=[{"type": "app_user_id", "value": "alice"}]),
        event("neither"),
        event("unknown", str(uuid.uuid4())),
        event("foreign", stranger),
        event("deep", alice, properties=too_deep),
        event("wide", alice, properties={f"k{i}": i for i in range(101)}),
        event("big", alice, properties={"text": "中" * 2800}),
        event("phone", identities=[{"type": "phone", "value": "12"}]),
        {"event_id": 7, "type": "view", "occurred_at": NOW.isoformat(), "customer_id": alice, "extra": 1},
        "not an object",
        event("ok-2", alice, properties={"a": {"b": {"c": {"d": {"e": 1}}}}}),
    ]
    response = await send(api, tenant, batch)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2
    assert body["results"][0] == body["results"][-1] == "accepted"
    faults = {r["index"]: [e["field"] for e in r["errors"]] for r in body["rejected"]}
    assert faults == {
        1: ["events[1].event_id"],
        2: ["events[2].type"],
        3: ["events[3].occurred_at"],
        4: ["events[4].occurred_at"],
        5: ["events[5].occurred_at"],
        6: ["events[6]"],
        7: ["events[7]"],
        8: ["events[8].customer_id"],
        9: ["events[9].customer_id"],
        10: ["events[10].properties"],
        11: ["events[11].properties"],
        12: ["events[12].properties"],
        13: ["events[13].identities[0].value"],
        14: ["events[14].event_id", "events[14].extra"],
        15: ["events[15]"],
    }
    assert set(await stored(database_urls, tenant)) == {"ok-1", "ok-2"}


async def test_a_fault_of_the_whole_call_stores_nothing(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    alice = await customer(api, tenant, "alice")
    headers = {**tenant.headers, "Content-Type": "application/json"}
    not_json = await api.post("/v1/events", content=b"{nope", headers=headers)
    assert not_json.status_code == 422
    for body, field in [
        ({}, "events"),
        ({"events": {"event_id": "e"}}, "events"),
        ({"events": []}, "events"),
        ({"events": [event(f"t{i}", alice) for i in range(1001)]}, "events"),
    ]:
        response = await api.post("/v1/events", json=body, headers=tenant.headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field]
    huge = await send(api, tenant, [event("huge", alice, properties={"text": "x" * 1_100_000})])
    assert huge.status_code == 413
    assert await stored(database_urls, tenant) == {}


async def test_the_service_refuses_an_empty_or_oversized_batch(
    services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    one = behaviour_pb2.BehaviourEvent(event_id="e", type="view", occurred_at=NOW.isoformat())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{services['profile'].bound_port}") as channel:
        stub = behaviour_pb2_grpc.BehaviourServiceStub(channel)
        for events in ([], [one] * 1001):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.RecordEvents(
                    behaviour_pb2.RecordEventsRequest(events=events),
                    timeout=5,
                    metadata=((TENANT_METADATA_KEY, tenant.tenant_id),),
                )
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# --- listing and the backbone -----------------------------------------------------------------


async def test_a_customers_events_are_listed_newest_first_a_page_at_a_time(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    alice = await customer(api, tenant, "alice")
    batch = [
        event(
            f"p{i}",
            alice,
            type="search" if i % 2 else "view",
            occurred_at=(NOW - timedelta(minutes=i)).isoformat(),
        )
        for i in range(7)
    ]
    assert (await send(api, tenant, batch)).json()["accepted"] == 7
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get(f"/v1/customers/{alice}/events", params=params, headers=tenant.headers)).json()
        seen += [e["event_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"p{i}" for i in range(7)]
    searches = await api.get(f"/v1/customers/{alice}/events?type=search", headers=tenant.headers)
    assert [e["event_id"] for e in searches.json()["items"]] == ["p1", "p3", "p5"]
    assert searches.json()["items"][0]["properties"] == {}
    assert (await api.get(f"/v1/customers/{alice}/events", headers=other_tenant.headers)).status_code == 404
    for query, field in [("limit=501", "limit"), ("cursor=garbage", "cursor"), ("type=Nope", "type")]:
        bad = await api.get(f"/v1/customers/{alice}/events?{query}", headers=tenant.headers)
        assert bad.status_code == 422, query
        assert [e["field"] for e in bad.json()["errors"]] == [field]


async def test_recorded_events_reach_the_backbone(
    api: httpx.AsyncClient, tenant: TenantKey, services: dict[str, ServiceServer]
) -> None:
    alice = await customer(api, tenant, "alice")
    assert (await send(api, tenant, [event("b1", alice), event("b2", alice)])).json()["accepted"] == 2
    request = envelope_pb2.SubscribeRequest(
        consumer="behaviour-test",
        partitions=[envelope_pb2.PartitionPosition(partition=p) for p in range(16)],
        types=["event.recorded"],
    )
    mine: list[envelope_pb2.EventEnvelope] = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{services['profile'].bound_port}") as channel:
        call = envelope_pb2_grpc.EventStreamStub(channel).Subscribe(request, timeout=10)
        async for message in call:
            mine += [e for e in message.events if e.tenant_id == tenant.tenant_id]
            if len(mine) >= 2:
                call.cancel()
                break
    assert sorted(e.event_recorded.client_event_id for e in mine) == ["b1", "b2"]
    assert {e.customer_id for e in mine} == {alice}
    assert all(e.position > 0 for e in mine)

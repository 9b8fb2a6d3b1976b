"""Identify and event calls gathered by the gateway answer exactly as calls sent alone would.

A gateway with one service call in flight per tenant (``gather_in_flight=1``) gathers every call that
arrives while one is out, so concurrent calls here go to the real profile service in batches
(``IdentifyMany``, a shared ``RecordEvents``); the counts of its RPCs prove that they did.
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
from prometheus_client import REGISTRY

from patron.profile.v1 import profile_pb2, profile_pb2_grpc
from services.runtime.server import ServiceServer
from services.runtime.tenancy import TENANT_METADATA_KEY
from tests.conftest import TenantKey, create_tenant, gateway_client, gateway_settings

NOW = datetime.now(UTC).replace(microsecond=0).isoformat()
IDENTIFY_MANY = "/patron.profile.v1.CustomerService/IdentifyMany"
RECORD_EVENTS = "/patron.profile.v1.BehaviourService/RecordEvents"


def served(method: str) -> float:
    return REGISTRY.get_sample_value("patron_rpc_calls_total", {"method": method, "code": "OK"}) or 0.0


@pytest.fixture
async def gathering_api(services: dict[str, ServiceServer]) -> AsyncIterator[httpx.AsyncClient]:
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    async with gateway_client(gateway_settings(addresses, gather_in_flight=1)) as client:
        yield client


@pytest.fixture
async def shop(gathering_api: httpx.AsyncClient) -> TenantKey:
    return await create_tenant(gathering_api, "Gathering shop")


async def tenant_rows(database_urls: dict[str, str], tenant: TenantKey, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        return list(await connection.fetch(query, uuid.UUID(tenant.tenant_id)))
    finally:
        await connection.close()


def phone(n: int) -> dict[str, str]:
    return {"type": "phone", "value": f"+8613900{n:06d}"}


async def test_gathered_identifies_answer_as_alone_and_create_each_customer_once(
    gathering_api: httpx.AsyncClient, shop: TenantKey, database_urls: dict[str, str]
) -> None:
    async def identify(body: dict[str, Any]) -> httpx.Response:
        return await gathering_api.post("/v1/customers/identify", json=body, headers=shop.headers)

    known = [(await identify({"identities": [phone(i)]})).json()["customer_id"] for i in range(10)]
    bodies: list[tuple[str, dict[str, Any]]] = []
    bodies += [("known", {"identities": [phone(i)]}) for i in range(10)]
    bodies += [
        ("new", {"identities": [phone(100 + i % 10), {"type": "email", "value": f"n{i % 10}@x.cn"}]})
        for i in range(20)
    ]
    bodies += [("bad", {"identities": [{"type": "phone", "value": "12"}]}) for _ in range(3)]
    bodies += [
        ("named", {"identities": [phone(200 + i)], "attributes": {"nickname": f"Named {i}"}})
        for i in range(5)
    ]
    before = served(IDENTIFY_MANY)
    answers = await asyncio.gather(*(identify(body) for _, body in bodies))
    assert served(IDENTIFY_MANY) > before  # the calls did go together

    by_kind: dict[str, list[tuple[dict[str, Any], httpx.Response]]] = {}
    for (kind, body), answer in zip(bodies, answers, strict=True):
        by_kind.setdefault(kind, []).append((body, answer))
    for index, (_, answer) in enumerate(by_kind["known"]):
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "customer_id": known[index],
            "created": False,
            "merged_customer_ids": [],
            "unmerged_customer_ids": [],
        }
    new_customers: dict[str, list[dict[str, Any]]] = {}
    for body, answer in by_kind["new"]:
        assert answer.status_code == 200, answer.text
        new_customers.setdefault(body["identities"][0]["value"], []).append(answer.json())
    assert len(new_customers) == 10
    for twice in new_customers.values():
        assert len({a["customer_id"] for a in twice}) == 1
        assert sorted(a["created"] for a in twice) == [False, True]  # the customer was created once
    for _, answer in by_kind["bad"]:
        assert answer.status_code == 422
        assert any(e["field"] == "identities[0].value" for e in answer.json()["errors"]), answer.text
    for body, answer in by_kind["named"]:
        assert answer.status_code == 200, answer.text
        assert answer.json()["created"] is True
        customer = await gathering_api.get(
            f"/v1/customers/{answer.json()['customer_id']}", headers=shop.headers
        )
        assert customer.json()["attributes"]["nickname"] == body["attributes"]["nickname"]

    customers = await tenant_rows(
        database_urls, shop, "SELECT customer_id FROM customers WHERE tenant_id = $1"
    )
    assert len(customers) == 10 + 10 + 5
    created = await tenant_rows(
        database_urls,
        shop,
        "SELECT customer_id FROM outbox WHERE tenant_id = $1 AND type = 'customer.created'",
    )
    assert len(created) == 25
    assert len({row["customer_id"] for row in created}) == 25


async def test_gathered_single_events_are_stored_once_and_answered_in_their_own_terms(
    gathering_api: httpx.AsyncClient, shop: TenantKey, database_urls: dict[str, str]
) -> None:
    identified = await gathering_api.post(
        "/v1/customers/identify", json={"identities": [phone(1)]}, headers=shop.headers
    )
    customer_id = identified.json()["customer_id"]

    def event(event_id: str, **fields: Any) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "type": "view",
            "occurred_at": NOW,
            "customer_id": customer_id,
            **fields,
        }

    calls: list[list[dict[str, Any]]] = [[event(f"e{i}")] for i in range(30)]
    calls += [[event(f"e{i}")] for i in range(5)]  # resent: duplicates of the first five
    calls += [[event("bad-type", type="nonsense"), event("fine-after-bad")]]
    calls += [[{"event_id": "by-phone", "type": "view", "occurred_at": NOW, "identities": [phone(300)]}]]
    before = served(RECORD_EVENTS)
    answers = await asyncio.gather(
        *(gathering_api.post("/v1/events", json={"events": c}, headers=shop.headers) for c in calls)
    )
    assert served(RECORD_EVENTS) - before < len(calls)  # some calls went together
    bodies = [a.json() for a in answers]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]

    outcomes = Counter(body["results"][0] for body in bodies[:35])
    assert outcomes == {"accepted": 30, "duplicate": 5}
    for body in bodies[:35]:
        assert (body["accepted"], body["duplicates"]) == (
            (1, 0) if body["results"] == ["accepted"] else (0, 1)
        )
    mixed = bodies[35]
    assert mixed["results"] == ["rejected", "accepted"]
    assert mixed["accepted"] == 1
    assert [r["index"] for r in mixed["rejected"]] == [0]
    assert mixed["rejected"][0]["errors"][0]["field"].startswith("events[0]")
    assert bodies[36]["results"] == ["accepted"]

    stored = await tenant_rows(
        database_urls, shop, "SELECT event_id FROM behaviour_events WHERE tenant_id = $1"
    )
    assert sorted(row["event_id"] for row in stored) == sorted(
        [f"e{i}" for i in range(30)] + ["fine-after-bad", "by-phone"]
    )


async def test_the_service_answers_a_batch_call_by_call_and_refuses_an_oversized_one(
    services: dict[str, ServiceServer], shop: TenantKey
) -> None:
    good = profile_pb2.IdentifyRequest(identities=[profile_pb2.Identity(type="email", value="batch@x.cn")])
    bad_birthday = profile_pb2.IdentifyRequest(
        identities=[profile_pb2.Identity(type="email", value="b2@x.cn")],
        attributes=profile_pb2.CustomerAttributes(birthday="not a date"),
    )
    metadata = ((TENANT_METADATA_KEY, shop.tenant_id),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{services['profile'].bound_port}") as channel:
        stub = profile_pb2_grpc.CustomerServiceStub(channel)
        response = await stub.IdentifyMany(
            profile_pb2.IdentifyManyRequest(calls=[bad_birthday, good, good]), timeout=5, metadata=metadata
        )
        kinds = [o.WhichOneof("outcome") for o in response.outcomes]
        assert kinds == ["unsettled", "result", "result"]
        assert [o.result.created for o in response.outcomes[1:]] == [True, False]
        for calls in ([], [good] * 101):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.IdentifyMany(
                    profile_pb2.IdentifyManyRequest(calls=calls), timeout=5, metadata=metadata
                )
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.IdentifyMany(profile_pb2.IdentifyManyRequest(calls=[good]), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_gathered_calls_of_two_tenants_stay_in_their_own_tenant(
    gathering_api: httpx.AsyncClient, shop: TenantKey
) -> None:
    other = await create_tenant(gathering_api, "Other gathering shop")

    async def identify(tenant: TenantKey, n: int) -> str:
        body = {"identities": [phone(500 + n)]}
        response = await gathering_api.post("/v1/customers/identify", json=body, headers=tenant.headers)
        assert response.status_code == 200, response.text
        return str(response.json()["customer_id"])

    ids = await asyncio.gather(*(identify(tenant, n) for n in range(10) for tenant in (shop, other)))
    mine, theirs = ids[0::2], ids[1::2]
    assert not set(mine) & set(theirs)  # the same phone is a different customer in each tenant
    for tenant, own, foreign in ((shop, mine, theirs), (other, theirs, mine)):
        assert (await gathering_api.get(f"/v1/customers/{own[0]}", headers=tenant.headers)).status_code == 200
        assert (
            await gathering_api.get(f"/v1/customers/{foreign[0]}", headers=tenant.headers)
        ).status_code == 404

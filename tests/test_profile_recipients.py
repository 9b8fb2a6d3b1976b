"""Profile's ContactService.Recipients over gRPC against the real service: customers made through the
API with a phone, an e-mail, a WeChat open id and an app user id; each channel's contact, clear only
when revealed; a merged id answered with its survivor's contact, zone and nickname (through a chain
of merges too); an erased customer with nothing; unknown and another tenant's ids as "unknown"; and
the limits (channel, malformed ids, 1,001 ids).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import httpx
import pytest

from patron.profile.v1 import contacts_pb2, contacts_pb2_grpc
from services.runtime.server import ServiceServer
from services.runtime.tenancy import TENANT_METADATA_KEY
from tests.conftest import TenantKey


async def identify(
    api: httpx.AsyncClient, tenant: TenantKey, *identities: tuple[str, str], **attributes: str
) -> str:
    body: dict[str, Any] = {"identities": [{"type": kind, "value": value} for kind, value in identities]}
    if attributes:
        body["attributes"] = attributes
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    customer: str = response.json()["customer_id"]
    return customer


async def merge(api: httpx.AsyncClient, tenant: TenantKey, survivor: str, other: str) -> None:
    response = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": other}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


def fields(recipient: contacts_pb2.Recipient) -> tuple[str, ...]:
    return (
        recipient.customer_id,
        recipient.state,
        recipient.survivor_id,
        recipient.contact,
        recipient.contact_masked,
        recipient.timezone,
        recipient.nickname,
    )


@pytest.fixture
async def stub(services: dict[str, ServiceServer]) -> AsyncIterator[contacts_pb2_grpc.ContactServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{services['profile'].bound_port}") as channel:
        yield contacts_pb2_grpc.ContactServiceStub(channel)


async def recipients(
    stub: contacts_pb2_grpc.ContactServiceStub,
    tenant: TenantKey,
    ids: list[str],
    channel: str,
    *,
    reveal: bool,
) -> list[tuple[str, ...]]:
    request = contacts_pb2.RecipientsRequest(customer_ids=ids, channel=channel, reveal=reveal)
    answer: contacts_pb2.RecipientsResponse = await stub.Recipients(
        request, timeout=5, metadata=((TENANT_METADATA_KEY, tenant.tenant_id),)
    )
    return [fields(recipient) for recipient in answer.recipients]


async def test_live_customers_answer_each_channel_clear_only_when_revealed(
    api: httpx.AsyncClient, tenant: TenantKey, stub: contacts_pb2_grpc.ContactServiceStub
) -> None:
    alice = await identify(
        api,
        tenant,
        ("phone", "13812340000"),
        ("email", "Alice.One@Example.com"),
        ("wechat_openid", "oWx1234567890"),
        ("app_user_id", "app-user-42"),
        nickname="Alice",
        timezone="Europe/Berlin",
    )
    bare = await identify(api, tenant, ("external_id", "crm-77"))
    await identify(api, tenant, ("external_id", "crm-77"), ("phone", "13812340009"))

    expected = {
        "sms": ("+8613812340000", "+86 138****0000"),
        "email": ("alice.one@example.com", "a***@example.com"),
        "wechat": ("oWx1234567890", "oW***90"),
        "push": ("app-user-42", "ap***42"),
    }
    for channel, (clear, masked) in expected.items():
        revealed = await recipients(stub, tenant, [alice, bare], channel, reveal=True)
        assert revealed[0] == (alice, "live", "", clear, masked, "Europe/Berlin", "Alice"), channel
        hidden = await recipients(stub, tenant, [alice], channel, reveal=False)
        assert hidden == [(alice, "live", "", "", masked, "Europe/Berlin", "Alice")], channel

    # The bare customer holds a phone but no other contact, zone or nickname.
    assert await recipients(stub, tenant, [bare], "sms", reveal=True) == [
        (bare, "live", "", "+8613812340009", "+86 138****0009", "", "")
    ]
    assert await recipients(stub, tenant, [bare], "email", reveal=True) == [
        (bare, "live", "", "", "", "", "")
    ]


async def test_the_contact_recorded_last_is_reached(
    api: httpx.AsyncClient, tenant: TenantKey, stub: contacts_pb2_grpc.ContactServiceStub
) -> None:
    customer = await identify(api, tenant, ("phone", "13812341000"))
    await identify(api, tenant, ("phone", "13812341000"), ("phone", "13812341001"))
    assert await recipients(stub, tenant, [customer], "sms", reveal=True) == [
        (customer, "live", "", "+8613812341001", "+86 138****1001", "", "")
    ]


async def test_a_merged_id_answers_with_its_survivor(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    stub: contacts_pb2_grpc.ContactServiceStub,
    database_urls: dict[str, str],
) -> None:
    survivor = await identify(api, tenant, ("phone", "13812342000"), nickname="Sue", timezone="Asia/Tokyo")
    merged = await identify(api, tenant, ("email", "merged@example.com"), nickname="Max")
    first = await identify(api, tenant, ("app_user_id", "first-user-1"))
    await merge(api, tenant, merged, first)  # first → merged
    await merge(api, tenant, survivor, merged)  # merged (and first with it) → survivor

    ids = [merged, first, survivor]
    sms = await recipients(stub, tenant, ids, "sms", reveal=True)
    assert sms == [
        (merged, "merged", survivor, "+8613812342000", "+86 138****2000", "Asia/Tokyo", "Sue"),
        (first, "merged", survivor, "+8613812342000", "+86 138****2000", "Asia/Tokyo", "Sue"),
        (survivor, "live", "", "+8613812342000", "+86 138****2000", "Asia/Tokyo", "Sue"),
    ]
    # The merged customers' identities now belong to the survivor: reached under its id.
    assert await recipients(stub, tenant, [first], "push", reveal=False) == [
        (first, "merged", survivor, "", "fi***-1", "Asia/Tokyo", "Sue")
    ]
    assert await recipients(stub, tenant, [merged], "email", reveal=True) == [
        (merged, "merged", survivor, "merged@example.com", "m***@example.com", "Asia/Tokyo", "Sue")
    ]

    # A chain left one hop at a time (as rows merged before re-pointing was the rule) is followed
    # to its end all the same.
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        await connection.execute(
            "UPDATE customers SET merged_into = $2 WHERE tenant_id = $3 AND customer_id = $1",
            uuid.UUID(first),
            uuid.UUID(merged),
            uuid.UUID(tenant.tenant_id),
        )
    finally:
        await connection.close()
    assert (await recipients(stub, tenant, [first], "sms", reveal=False))[0][:3] == (
        first,
        "merged",
        survivor,
    )


async def test_erased_unknown_and_another_tenants_customers(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    other_tenant: TenantKey,
    stub: contacts_pb2_grpc.ContactServiceStub,
) -> None:
    live = await identify(api, tenant, ("phone", "13812343000"))
    erased = await identify(api, tenant, ("phone", "13812343001"), nickname="Gone", timezone="Asia/Tokyo")
    merged_then_erased = await identify(api, tenant, ("email", "gone@example.com"))
    await merge(api, tenant, erased, merged_then_erased)
    assert (await api.delete(f"/v1/customers/{erased}", headers=tenant.headers)).status_code == 200
    theirs = await identify(api, other_tenant, ("phone", "13812343002"))
    never = str(uuid.uuid4())

    ids = [theirs, erased, live, merged_then_erased, never, live, erased]
    answer = await recipients(stub, tenant, ids, "sms", reveal=True)
    assert answer == [
        (theirs, "unknown", "", "", "", "", ""),
        (erased, "erased", "", "", "", "", ""),
        (live, "live", "", "+8613812343000", "+86 138****3000", "", ""),
        (merged_then_erased, "erased", "", "", "", "", ""),
        (never, "unknown", "", "", "", "", ""),
    ]
    # The other tenant reaches its own customer, and knows none of this tenant's.
    assert await recipients(stub, other_tenant, [theirs, live], "sms", reveal=False) == [
        (theirs, "live", "", "", "+86 138****3002", "", ""),
        (live, "unknown", "", "", "", "", ""),
    ]


async def test_limits(tenant: TenantKey, stub: contacts_pb2_grpc.ContactServiceStub) -> None:
    async def refused(ids: list[str], channel: str) -> str:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await recipients(stub, tenant, ids, channel, reveal=False)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        return error.value.details() or ""

    some = str(uuid.uuid4())
    for channel in ("", "fax", "phone", "SMS"):
        assert "channel" in await refused([some], channel)
    assert "customer_ids[1]" in await refused([some, "not-a-customer"], "sms")
    assert "customer_ids" in await refused([], "email")
    assert "customer_ids" in await refused([str(uuid.uuid4()) for _ in range(1_001)], "push")
    assert (
        len(await recipients(stub, tenant, [str(uuid.uuid4()) for _ in range(1_000)], "push", reveal=True))
        == 1_000
    )


async def test_a_call_without_a_tenant_is_refused(stub: contacts_pb2_grpc.ContactServiceStub) -> None:
    request = contacts_pb2.RecipientsRequest(customer_ids=[str(uuid.uuid4())], channel="sms", reveal=True)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.Recipients(request, timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED

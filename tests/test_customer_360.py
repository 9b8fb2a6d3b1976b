"""The customer 360 through the gateway and the four real services: one answer with every section; a
merged-away id answered for its survivor; a service that never answers (a socket that accepts and
stays silent) and one that is down degrade their sections, marked, while the rest stands; an unknown
or another tenant's customer is 404.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx

from services.runtime.server import ServiceServer
from tests.conftest import TenantKey, gateway_client, gateway_settings
from tests.notify_peers import SmtpPeer
from tests.support import free_port
from tests.test_audience_projection import eventually
from tests.test_coupons import issued_code, redeem
from tests.test_coupons import template as coupon_template
from tests.test_notify_messages_api import email_channel, send
from tests.test_notify_messages_api import template as message_template


async def identify(api: httpx.AsyncClient, tenant: TenantKey, email: str, city: str) -> str:
    body = {"identities": [{"type": "email", "value": email}], "attributes": {"city": city}}
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["customer_id"])


async def view(api: httpx.AsyncClient, tenant: TenantKey, customer: str) -> dict[str, Any]:
    response = await api.get(f"/v1/customers/{customer}/360", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def a_known_customer(api: httpx.AsyncClient, tenant: TenantKey) -> tuple[str, str]:
    """A customer with points, a coupon, a message and a segment; and the segment's id."""
    city = f"C360-{uuid.uuid4().hex[:8]}"
    customer = await identify(api, tenant, f"c360-{city.lower()}@example.com", city)
    adjusted = await api.post(
        f"/v1/customers/{customer}/points/adjustments",
        json={"points": 120, "reason": "welcome"},
        headers=tenant.headers,
    )
    assert adjusted.status_code == 201, adjusted.text
    await issued_code(
        api,
        tenant,
        customer,
        (await coupon_template(api, tenant, kind="no_threshold", discount_minor=500))["template_id"],
    )
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        await send(api, tenant, customer, await message_template(api, tenant))  # no consent: suppressed
    condition = {"field": "attributes.city", "op": "eq", "value": city}
    segment = await api.post(
        "/v1/segments", json={"name": f"360 {city}", "condition": condition}, headers=tenant.headers
    )
    assert segment.status_code == 201, segment.text
    return customer, str(segment.json()["segment_id"])


async def test_one_answer_holds_every_section(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer, segment = await a_known_customer(api, tenant)
    body = await eventually(
        lambda: view(api, tenant, customer),
        lambda b: bool(b["segments"]) and bool(b["timeline"]),
    )
    assert body["complete"] is True
    assert body["degraded"] == []
    assert (body["customer_id"], body["merged_into"]) == (customer, None)
    assert body["profile"]["customer_id"] == customer
    assert "c360-" not in str(body["profile"]["identities"])  # masked
    assert body["points"]["balance"] == 120
    assert body["membership"]["customer_id"] == customer
    assert [c["status"] for c in body["coupons"]] == ["available"]
    assert [m["status"] for m in body["messages"]] == ["suppressed"]
    assert [s["segment_id"] for s in body["segments"]] == [segment]
    assert body["scores"]["customer_id"] == customer
    assert 1 <= len(body["timeline"]) <= 10


async def test_a_merged_away_id_is_answered_for_its_survivor(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    survivor = await identify(api, tenant, f"s-{uuid.uuid4().hex[:8]}@example.com", "Hangzhou")
    merged = await identify(api, tenant, f"m-{uuid.uuid4().hex[:8]}@example.com", "Hangzhou")
    merge = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert merge.status_code == 200, merge.text
    body = await view(api, tenant, merged)
    assert (body["customer_id"], body["merged_into"]) == (survivor, survivor)
    assert body["profile"]["customer_id"] == survivor
    assert body["points"]["customer_id"] == survivor


async def _sections_and_endpoints(
    api: httpx.AsyncClient, tenant: TenantKey, customer: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The 360's sections, and what each section's own endpoint answers (first pages of ten)."""
    body = await view(api, tenant, customer)
    own: dict[str, Any] = {}
    for section, path in {
        "profile": "",
        "scores": "/scores",
        "segments": "/segments",
        "points": "/points",
        "membership": "/membership",
        "coupons": "/coupons?status=available&limit=10",
        "messages": "/messages?limit=10",
        "timeline": "/timeline?limit=10",
    }.items():
        response = await api.get(f"/v1/customers/{customer}{path}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        answer = response.json()
        own[section] = answer["items"] if isinstance(answer, dict) and "items" in answer else answer
    return {section: body[section] for section in own}, own


async def test_each_section_is_what_its_own_endpoint_answers(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    """Each service reads its part in one statement where it can; the sections must not differ from
    the single endpoints, which read step by step: paging cut at ten, statuses filtered, merged-away
    ids answered for the survivor."""
    customer, _ = await a_known_customer(api, tenant)
    template_id = (
        await coupon_template(api, tenant, kind="no_threshold", discount_minor=300, per_customer_limit=20)
    )["template_id"]
    codes = [await issued_code(api, tenant, customer, template_id) for _ in range(12)]
    assert (await redeem(api, tenant, codes[-1], 1_000)).status_code == 200
    merged = await identify(api, tenant, f"m-{uuid.uuid4().hex[:8]}@example.com", "Hangzhou")
    merge = await api.post(
        f"/v1/customers/{customer}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert merge.status_code == 200, merge.text

    sections, own = await eventually(
        lambda: _sections_and_endpoints(api, tenant, customer), lambda pair: pair[0] == pair[1]
    )
    assert sections == own
    assert len(sections["coupons"]) == 10
    assert codes[-1] not in [c["code"] for c in sections["coupons"]]
    assert sections["points"]["balance"] == 120

    loyalty_sections = ("points", "membership", "coupons")
    of_merged = await eventually(
        lambda: view(api, tenant, merged), lambda b: b["points"]["customer_id"] == customer
    )
    assert {s: of_merged[s] for s in loyalty_sections} == {s: sections[s] for s in loyalty_sections}


async def test_a_chain_of_merges_is_followed_and_an_erased_customer_is_404(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    first, second, third = [
        await identify(api, tenant, f"{n}-{uuid.uuid4().hex[:8]}@example.com", "Ningbo") for n in "abc"
    ]
    for survivor, other in ((second, first), (third, second)):
        merge = await api.post(
            f"/v1/customers/{survivor}/merge", json={"other_customer_id": other}, headers=tenant.headers
        )
        assert merge.status_code == 200, merge.text
    body = await view(api, tenant, first)
    assert (body["customer_id"], body["merged_into"]) == (third, third)
    assert body["profile"] == (await api.get(f"/v1/customers/{first}", headers=tenant.headers)).json()
    merged_ids = {item["ref"] for item in body["timeline"] if item["kind"] == "customer.merged"}
    assert merged_ids == {first, second}
    erased = await api.delete(f"/v1/customers/{third}", headers=tenant.headers)
    assert erased.status_code == 200, erased.text
    for customer in (first, third):
        response = await api.get(f"/v1/customers/{customer}/360", headers=tenant.headers)
        assert response.status_code == 404, response.text


async def test_unknown_and_other_tenants_customers_are_404(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    theirs = await identify(api, other_tenant, f"o-{uuid.uuid4().hex[:8]}@example.com", "Suzhou")
    for customer in (theirs, str(uuid.uuid4())):
        response = await api.get(f"/v1/customers/{customer}/360", headers=tenant.headers)
        assert response.status_code == 404, response.text
    bad = await api.get("/v1/customers/not-a-uuid/360", headers=tenant.headers)
    assert bad.status_code in (404, 422), bad.text


@contextmanager
def silent_peer() -> Iterator[str]:
    """A TCP listener that accepts connections and never says a word: a hung service."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


async def test_a_hung_and_a_down_service_degrade_their_sections_only(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    customer, _ = await a_known_customer(api, tenant)
    with silent_peer() as hung:
        addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
        addresses["loyalty"] = hung
        addresses["notify"] = f"127.0.0.1:{free_port()}"  # nothing listens: down
        settings = gateway_settings(addresses, customer_360_deadline_seconds=0.5)
        async with gateway_client(settings) as degraded_api:
            started = time.monotonic()
            body = await view(degraded_api, tenant, customer)
            took = time.monotonic() - started
    assert took < 2.0, took  # bounded by the deadline, not by the hung service
    assert body["complete"] is False
    reasons = {d["section"]: (d["service"], d["reason"]) for d in body["degraded"]}
    assert reasons == {
        "points": ("loyalty", "deadline_exceeded"),
        "membership": ("loyalty", "deadline_exceeded"),
        "coupons": ("loyalty", "deadline_exceeded"),
        "messages": ("notify", "unavailable"),
    }
    assert [body[s] for s in ("points", "membership", "coupons", "messages")] == [None] * 4
    assert body["profile"]["customer_id"] == customer
    assert None not in [body[s] for s in ("scores", "segments", "timeline")]


@asynccontextmanager
async def slow_relay(target: str, delay: float) -> AsyncIterator[str]:
    """A TCP relay to ``target`` that holds every chunk from the service for ``delay`` seconds: a
    slow service (its answers arrive late, but arrive)."""

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wait: float) -> None:
        try:
            while chunk := await reader.read(65536):
                if wait:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        host, port = target.rsplit(":", 1)
        service_reader, service_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(
            pump(client_reader, service_writer, 0.0), pump(service_reader, client_writer, delay)
        )

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def test_a_slow_profile_still_gives_a_whole_answer(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    """Profile answering after the other three (but within the deadline) is waited for, not cut."""
    customer, _ = await a_known_customer(api, tenant)
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    async with slow_relay(addresses["profile"], 0.2) as slow:
        settings = gateway_settings({**addresses, "profile": slow}, customer_360_deadline_seconds=2.0)
        async with gateway_client(settings) as slow_api:
            body = await view(slow_api, tenant, customer)
    assert body["complete"] is True, body["degraded"]
    assert body["profile"]["customer_id"] == customer

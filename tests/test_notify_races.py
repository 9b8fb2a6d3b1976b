"""Notify under concurrency: the frequency cap and ``dedupe_key`` hold when many sends race for one
customer (through the gateway, against real SMTP and HTTP peers), and the policy's cap never lets
more marketing through than it allows, for any sequence of sends (a property of ``policy.decide``).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.notify.domain.policy import Cap, Decision, Policy, QuietHours, Recipient, capped, decide
from services.runtime.server import ServiceServer
from tests.conftest import TenantKey, gateway_client, gateway_settings
from tests.notify_peers import HttpPeer, SmtpPeer, serve
from tests.test_notify_messages_api import (
    consent,
    email_channel,
    eventually,
    mailbox,
    message,
    template,
)

SECRET = "whsec_" + base64.b64encode(b"patron-race-test-secret-32-bytes").decode()
SENDS = 20
CAP = 2
PATIENT_RPC_SECONDS = 20.0
"""The concurrent sends to one customer queue on that customer's lock, one commit after another; on a
loaded two-core test machine the last of twenty can take longer than the gateway's default 2 s
deadline. The race is about what commits, so these tests give the gateway a longer deadline."""


@pytest.fixture
async def patient_api(services: dict[str, ServiceServer]) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in process, like ``api``, with a longer deadline for each gRPC call."""
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    settings = gateway_settings(addresses, rpc_timeout_seconds=PATIENT_RPC_SECONDS)
    async with gateway_client(settings) as client:
        yield client


async def channel_via_http(api: httpx.AsyncClient, tenant: TenantKey, channel: str, base_url: str) -> None:
    """Configure ``channel`` with provider ``http`` pointing at a local HttpPeer, signed with SECRET."""
    body = {"provider": "http", "settings": {"url": f"{base_url}/hook", "secret": SECRET}}
    response = await api.put(f"/v1/notify/channels/{channel}", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text


async def text_template(api: httpx.AsyncClient, tenant: TenantKey, channel: str) -> str:
    """A marketing template of an SMS or push channel (a body only)."""
    body = {
        "name": f"{channel} {uuid.uuid4().hex[:6]}",
        "channel": channel,
        "purpose": "marketing",
        "body": "Hi {{ customer.nickname }}, {{ data.offer }}",
    }
    response = await api.post("/v1/notify/templates", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["template_id"])


async def reachable_customer(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    """A customer with an e-mail address, a phone and an app user id (sms and push contacts)."""
    suffix = uuid.uuid4().int % 10_000_000
    body = {
        "identities": [
            {"type": "email", "value": f"race{suffix}@example.com"},
            {"type": "phone", "value": f"+86138{suffix:08d}"},
            {"type": "app_user_id", "value": f"app-{suffix}"},
        ],
        "attributes": {"nickname": "Ming", "timezone": "UTC"},
    }
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["customer_id"])


async def put_policy(api: httpx.AsyncClient, tenant: TenantKey, document: dict[str, Any]) -> None:
    response = await api.put("/v1/notify/policy", json=document, headers=tenant.headers)
    assert response.status_code == 200, response.text


async def post_message(
    api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, template_id: str, **extra: Any
) -> dict[str, Any]:
    body = {"customer_id": customer_id, "template_id": template_id, "data": {"offer": "20% off"}, **extra}
    response = await api.post("/v1/messages", json=body, headers=tenant.headers)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


@asynccontextmanager
async def http_peers(count: int) -> AsyncIterator[list[tuple[HttpPeer, str]]]:
    """``count`` signature-checking HttpPeers served in this loop, each with its base URL."""
    async with AsyncExitStack() as stack:
        peers = []
        for _ in range(count):
            peer = HttpPeer(secret=SECRET)
            peers.append((peer, await stack.enter_async_context(serve(peer.app()))))
        yield peers


async def test_twenty_concurrent_marketing_sends_over_three_channels_with_a_cap_of_two_send_two(
    patient_api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    api = patient_api
    with SmtpPeer() as smtp:
        async with http_peers(2) as [(sms, sms_url), (push, push_url)]:
            await email_channel(api, tenant, smtp)
            await channel_via_http(api, tenant, "sms", sms_url)
            await channel_via_http(api, tenant, "push", push_url)
            customer_id = await reachable_customer(api, tenant)
            for channel in ("email", "sms", "push"):
                await consent(api, tenant, customer_id, channel)
            templates = [
                await template(api, tenant),
                await text_template(api, tenant, "sms"),
                await text_template(api, tenant, "push"),
            ]
            await put_policy(
                api, tenant, {"frequency_caps": [{"max": CAP, "per": "P7D"}], "quiet_hours": None}
            )

            answers = await asyncio.gather(
                *(post_message(api, tenant, customer_id, templates[i % len(templates)]) for i in range(SENDS))
            )

            outcomes = sorted((a["status"], a["reason"]) for a in answers)
            assert outcomes == [("queued", None)] * CAP + [("suppressed", "capped")] * (SENDS - CAP)
            queued = [a["message_id"] for a in answers if a["status"] == "queued"]

            async def statuses_of_queued() -> list[str]:
                return [(await message(api, tenant, m))["status"] for m in queued]

            final = await eventually(statuses_of_queued, lambda s: s == ["sent"] * CAP)
            assert final == ["sent"] * CAP

            def delivered() -> int:
                return len(mailbox(smtp)) + len(sms.received) + len(push.received)

            assert delivered() == CAP
            assert sms.bad_signatures == push.bad_signatures == 0
            assert sum(sms.attempts.values()) + sum(push.attempts.values()) + len(mailbox(smtp)) == CAP
            listed = await api.get(f"/v1/customers/{customer_id}/messages?limit=100", headers=tenant.headers)
            statuses = sorted(m["status"] for m in listed.json()["items"])
            assert statuses == ["sent"] * CAP + ["suppressed"] * (SENDS - CAP)


async def test_concurrent_retries_with_one_dedupe_key_make_one_message_delivered_once(
    patient_api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    api = patient_api
    async with http_peers(1) as [(peer, url)]:
        await channel_via_http(api, tenant, "sms", url)
        customer_id = await reachable_customer(api, tenant)
        await consent(api, tenant, customer_id, "sms")
        template_id = await text_template(api, tenant, "sms")
        key = f"order-shipped-{uuid.uuid4().hex}"

        answers = await asyncio.gather(
            *(post_message(api, tenant, customer_id, template_id, dedupe_key=key) for _ in range(10))
        )

        assert len({a["message_id"] for a in answers}) == 1
        assert [a["deduplicated"] for a in answers].count(False) == 1
        message_id = answers[0]["message_id"]
        sent = await eventually(lambda: message(api, tenant, message_id), lambda m: m["status"] == "sent")
        assert sent["status"] == "sent", sent
        assert list(peer.received) == [message_id]
        assert peer.attempts[message_id] == 1
        assert peer.bad_signatures == 0
        again = await post_message(api, tenant, customer_id, template_id, dedupe_key=key)
        assert (again["message_id"], again["deduplicated"]) == (message_id, True)
        listed = await api.get(f"/v1/customers/{customer_id}/messages", headers=tenant.headers)
        assert [m["message_id"] for m in listed.json()["items"]] == [message_id]


async def test_one_dedupe_key_sent_at_once_for_different_customers_answers_one_message(
    patient_api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    """The key is the tenant's, not the customer's: concurrent sends naming it for different
    customers (which do not share a customer's lock) all answer the first message, none fails."""
    api = patient_api
    async with http_peers(1) as [(peer, url)]:
        await channel_via_http(api, tenant, "sms", url)
        template_id = await text_template(api, tenant, "sms")
        customers = [await reachable_customer(api, tenant) for _ in range(5)]
        for customer_id in customers:
            await consent(api, tenant, customer_id, "sms")
        key = f"campaign-7-{uuid.uuid4().hex}"

        answers = await asyncio.gather(
            *(post_message(api, tenant, c, template_id, dedupe_key=key) for c in customers * 2)
        )

        assert len({a["message_id"] for a in answers}) == 1
        assert [a["deduplicated"] for a in answers].count(False) == 1
        message_id = answers[0]["message_id"]
        done = await eventually(lambda: message(api, tenant, message_id), lambda m: m["status"] == "sent")
        assert done["status"] == "sent", done
        assert list(peer.received) == [message_id]


# --- the policy's cap as a property ------------------------------------------------------------

UTC_ZONE = ZoneInfo("UTC")
START = datetime(2026, 3, 1, tzinfo=UTC)

caps = st.lists(
    st.builds(
        Cap,
        max=st.integers(min_value=1, max_value=4),
        per=st.sampled_from([timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=7)]),
    ),
    min_size=0,
    max_size=3,
)
sends = st.lists(
    st.tuples(
        st.sampled_from(["marketing", "service"]),
        st.sampled_from(["email", "sms", "push", "wechat"]),
        st.integers(min_value=0, max_value=36 * 60),  # minutes after the previous send
    ),
    min_size=1,
    max_size=40,
)
quiet = st.none() | st.builds(
    QuietHours,
    start=st.sampled_from([time(h) for h in (0, 6, 12, 22)]),
    end=st.sampled_from([time(h) for h in (3, 8, 18)]),
)


def recipient(*, erased: bool = False) -> Recipient:
    return Recipient(erased=erased, has_contact=True, unsubscribed=False, consent=True, zone=UTC_ZONE)


def most_in_any_window(times: list[datetime], per: timedelta) -> int:
    """The most of ``times`` in any window ``(t - per, t]`` (a fullest window ends at a message)."""
    return max((sum(1 for s in times if t - per < s <= t) for t in times), default=0)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caps=caps, sends=sends, quiet_hours=quiet)
def test_the_cap_never_lets_more_marketing_through_than_it_allows(
    caps: list[Cap], sends: list[tuple[str, str, int]], quiet_hours: QuietHours | None
) -> None:
    policy = Policy(tuple(caps), quiet_hours)
    counted: list[datetime] = []  # committed marketing (queued or deferred), across every channel
    now = START
    for purpose, _channel, gap in sends:
        now += timedelta(minutes=gap)
        decision = decide(purpose, recipient(), policy, counted, now)
        if purpose == "service":
            assert decision == Decision("send")  # never capped, never deferred
            continue
        full = [cap for cap in caps if sum(1 for t in counted if now - cap.per < t <= now) >= cap.max]
        assert capped(caps, counted, now) == bool(full)
        if full:
            assert decision == Decision("suppress", "capped")
        else:
            assert decision.action in ("send", "defer")
            assert (decision.action == "defer") == (decision.until is not None)
            counted.append(now)
        assert decide(purpose, recipient(erased=True), policy, counted, now) == Decision("suppress", "erased")
    for cap in caps:
        assert most_in_any_window(counted, cap.per) <= cap.max


@settings(max_examples=50, deadline=None)
@given(caps=caps, sends=sends)
def test_erased_is_always_suppressed_and_service_never_capped(
    caps: list[Cap], sends: list[tuple[str, str, int]]
) -> None:
    policy = Policy(tuple(caps))
    history = [START + timedelta(minutes=sum(s[2] for s in sends[: i + 1])) for i in range(len(sends))]
    now = history[-1]
    for purpose in ("marketing", "service"):
        assert decide(purpose, recipient(erased=True), policy, history, now) == Decision("suppress", "erased")
    assert decide("service", recipient(), policy, history, now) == Decision("send")

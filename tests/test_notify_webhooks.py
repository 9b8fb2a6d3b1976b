"""Signed webhooks to the merchant, end to end: the real gateway, a real notify server (its own
database, a short retry schedule from its settings) and a real HTTP receiver on loopback that verifies
every Standard Webhooks signature with the secret the API returned.

Events reach the deliveries through ``enqueue_webhook_deliveries``, the function the message
pipeline calls in the transaction that records its events."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from standardwebhooks import Webhook as Verifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notify.domain.webhooks import WebhookEvent
from services.notify.settings import generate_key
from services.notify.store.sealing import Sealer
from services.notify.store.webhook_queue import SqlDeliveryQueue
from services.notify.store.webhooks import enqueue_webhook_deliveries
from services.runtime import migrations
from services.runtime.server import ServiceServer
from services.runtime.service_main import build_server
from services.runtime.settings import RuntimeSettings
from tests.conftest import TenantKey, create_tenant, gateway_client, gateway_settings
from tests.support import PostgresServer, builder_for, free_port, service_settings, wait_serving

SCHEDULE = [0, 0.3, 0.3, 0.3]  # four attempts, 0.3 s apart after a failure
DISABLE_AFTER = 2


@dataclass
class Receiver:
    """A merchant's endpoint per path: answers from a script (then ``default``), verifies signatures."""

    base_url: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    default: dict[str, int] = field(default_factory=dict)
    received: dict[str, list[tuple[dict[str, str], bytes, float]]] = field(default_factory=dict)
    forged: list[str] = field(default_factory=list)
    stalls: dict[str, list[float]] = field(default_factory=dict)

    async def hook(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        headers = dict(request.headers)
        try:
            Verifier(self.secrets[name]).verify(body, headers)
        except Exception as error:
            self.forged.append(f"{name}: {error}")
            return Response(status_code=401)
        self.received.setdefault(name, []).append((headers, body, asyncio.get_running_loop().time()))
        stall = self.stalls.get(name, [])
        if stall:
            await asyncio.sleep(stall.pop(0))
        script = self.scripts.get(name, [])
        return Response(status_code=script.pop(0) if script else self.default.get(name, 200))

    def url(self, name: str) -> str:
        return f"{self.base_url}/hooks/{name}"


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = Starlette(routes=[Route("/hooks/{name}", state.hook, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    state.base_url = f"http://127.0.0.1:{port}"
    yield state
    server.should_exit = True
    await task


@dataclass
class Stack:
    api: httpx.AsyncClient
    notify: ServiceServer
    tenant: TenantKey


@asynccontextmanager
async def notify_stack(
    postgres: PostgresServer,
    services: dict[str, ServiceServer],
    runtime: RuntimeSettings,
    **overrides: object,
) -> AsyncIterator[Stack]:
    """A notify server of its own (fresh database, ``overrides`` in its settings, ``runtime``) behind a
    gateway that reaches the session's other services, and a tenant provisioned through it."""
    name = f"patron_whk_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    await asyncio.to_thread(migrations.upgrade, "notify", url)
    addresses = {n: f"127.0.0.1:{s.bound_port}" for n, s in services.items() if n != "notify"}
    settings = service_settings(
        "notify", url, **{f"{n}_address": a for n, a in addresses.items()}, **overrides
    )
    notify = build_server("notify", builder_for("notify"), settings, runtime)  # type: ignore[arg-type]
    await notify.start()
    try:
        await wait_serving(notify)
        addresses["notify"] = f"127.0.0.1:{notify.bound_port}"
        async with gateway_client(gateway_settings(addresses)) as api:
            yield Stack(api, notify, await create_tenant(api, "Webhook shop"))
    finally:
        await notify.stop(grace=0.5)
        await postgres.drop_database(name)


FAST = {
    "webhook_retry_seconds": SCHEDULE,
    "webhook_disable_after": DISABLE_AFTER,
    "webhook_idle_seconds": 0.05,
    "webhook_timeout_seconds": 2.0,
}


@pytest.fixture(scope="module")
async def stack(postgres: PostgresServer, services: dict[str, ServiceServer]) -> AsyncIterator[Stack]:
    async with notify_stack(postgres, services, RuntimeSettings(env="test", log_format="text"), **FAST) as s:
        yield s


async def create(stack: Stack, receiver: Receiver, name: str, events: list[str]) -> dict[str, Any]:
    response = await stack.api.post(
        "/v1/notify/webhooks",
        json={"url": receiver.url(name), "events": events},
        headers=stack.tenant.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    receiver.secrets[name] = body["secret"]
    return body


def event(kind: str, **data: Any) -> WebhookEvent:
    return WebhookEvent(str(uuid.uuid4()), kind, datetime.now(UTC), {"message_id": str(uuid.uuid4()), **data})


async def enqueue(stack: Stack, *events: WebhookEvent) -> None:
    async with stack.notify.database.transaction() as connection:
        await enqueue_webhook_deliveries(connection, uuid.UUID(stack.tenant.tenant_id), events)


async def deliveries(stack: Stack, webhook_id: str, **params: Any) -> dict[str, Any]:
    response = await stack.api.get(
        f"/v1/notify/webhooks/{webhook_id}/deliveries", params=params, headers=stack.tenant.headers
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def settled(stack: Stack, webhook_id: str, count: int, seconds: float = 10.0) -> list[dict[str, Any]]:
    """The webhook's deliveries once ``count`` exist and none is pending any more."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        items: list[dict[str, Any]] = (await deliveries(stack, webhook_id))["items"]
        if len(items) >= count and all(d["status"] != "pending" for d in items):
            return items
        assert asyncio.get_running_loop().time() < deadline, items
        await asyncio.sleep(0.05)


async def test_signed_delivery_is_retried_with_backoff_until_a_2xx(stack: Stack, receiver: Receiver) -> None:
    created = await create(stack, receiver, "flaky", ["message.delivered", "message.opened"])
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True
    assert created["events"] == ["message.delivered", "message.opened"]
    shown = await stack.api.get(f"/v1/notify/webhooks/{created['webhook_id']}", headers=stack.tenant.headers)
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    receiver.scripts["flaky"] = [500, 503]

    delivered = event("message.delivered", channel="email")
    await enqueue(stack, delivered, event("message.sent"))  # not subscribed: no delivery
    await enqueue(stack, delivered)  # handed over twice: still one delivery
    [log] = await settled(stack, created["webhook_id"], 1)

    assert log["status"] == "delivered"
    assert log["event_id"] == delivered.event_id
    assert [a["status_code"] for a in log["attempts"]] == [500, 503, 200]
    assert [a["attempt"] for a in log["attempts"]] == [1, 2, 3]
    received = receiver.received["flaky"]
    assert len(received) == 3
    assert not receiver.forged
    assert {headers["webhook-id"] for headers, _, _ in received} == {log["delivery_id"]}
    assert all(later - earlier >= 0.25 for (_, _, earlier), (_, _, later) in itertools.pairwise(received))
    body = json.loads(received[-1][1])
    assert body["type"] == "message.delivered"
    assert body["data"]["channel"] == "email"
    assert datetime.fromisoformat(body["timestamp"]) == delivered.occurred_at


async def test_a_webhook_failing_every_attempt_is_disabled(stack: Stack, receiver: Receiver) -> None:
    created = await create(stack, receiver, "down", ["message.failed"])
    webhook_id = created["webhook_id"]
    receiver.default["down"] = 503
    for _ in range(DISABLE_AFTER):
        await enqueue(stack, event("message.failed"))
    logs = await settled(stack, webhook_id, DISABLE_AFTER)
    assert all(d["status"] == "failed" for d in logs)
    assert all([a["status_code"] for a in d["attempts"]] == [503] * len(SCHEDULE) for d in logs)
    shown = (await stack.api.get(f"/v1/notify/webhooks/{webhook_id}", headers=stack.tenant.headers)).json()
    assert shown["enabled"] is False
    assert shown["disabled_reason"] == "failing"
    assert shown["disabled_at"]

    await enqueue(stack, event("message.failed"))  # disabled: not delivered
    await asyncio.sleep(0.3)
    assert len((await deliveries(stack, webhook_id))["items"]) == DISABLE_AFTER

    receiver.default["down"] = 204  # the merchant fixed the endpoint
    enabled = await stack.api.post(f"/v1/notify/webhooks/{webhook_id}/enable", headers=stack.tenant.headers)
    assert enabled.status_code == 200
    assert enabled.json()["enabled"] is True
    await enqueue(stack, event("message.failed"))
    newest = (await settled(stack, webhook_id, DISABLE_AFTER + 1))[0]
    assert newest["status"] == "delivered"
    assert newest["attempts"][0]["status_code"] == 204

    first = await deliveries(stack, webhook_id, limit=2)
    rest = await deliveries(stack, webhook_id, limit=2, cursor=first["next_cursor"])
    assert [d["delivery_id"] for d in first["items"] + rest["items"]] == [
        d["delivery_id"] for d in await settled(stack, webhook_id, DISABLE_AFTER + 1)
    ]
    assert rest["next_cursor"] is None


async def test_a_deleted_webhook_is_gone(stack: Stack, receiver: Receiver) -> None:
    created = await create(stack, receiver, "gone", ["message.clicked"])
    await stack.api.delete(f"/v1/notify/webhooks/{created['webhook_id']}", headers=stack.tenant.headers)
    missing = await stack.api.get(
        f"/v1/notify/webhooks/{created['webhook_id']}", headers=stack.tenant.headers
    )
    assert missing.status_code == 404


async def test_faults_are_named(stack: Stack, receiver: Receiver) -> None:
    response = await stack.api.post(
        "/v1/notify/webhooks",
        json={"url": "ftp://shop.example/x", "events": ["message.sent", "message.bogus", "message.sent"]},
        headers=stack.tenant.headers,
    )
    assert response.status_code == 422, response.text
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"url", "events[1]", "events[2]"}


async def test_webhooks_are_the_tenants_own(stack: Stack, receiver: Receiver) -> None:
    created = await create(stack, receiver, "mine", ["message.sent"])
    other = await create_tenant(stack.api, "Other shop")
    webhook_id = created["webhook_id"]
    for method, path in (
        ("get", f"/v1/notify/webhooks/{webhook_id}"),
        ("delete", f"/v1/notify/webhooks/{webhook_id}"),
        ("post", f"/v1/notify/webhooks/{webhook_id}/enable"),
        ("get", f"/v1/notify/webhooks/{webhook_id}/deliveries"),
    ):
        answer = await stack.api.request(method, path, headers=other.headers)
        assert answer.status_code == 404, (method, path, answer.text)
    listed = await stack.api.get("/v1/notify/webhooks", headers=other.headers)
    assert listed.json() == {"items": [], "next_cursor": None}
    mine = await stack.api.get("/v1/notify/webhooks", headers=stack.tenant.headers)
    assert webhook_id in {w["webhook_id"] for w in mine.json()["items"]}


async def test_private_addresses_are_refused_outside_development(
    postgres: PostgresServer, services: dict[str, ServiceServer]
) -> None:
    production = RuntimeSettings(env="production", log_format="text", grpc_tls_disabled=True)
    # production refuses the fixed keys of the other tests (services.runtime.dev_secrets)
    keys = {"secret_key": generate_key(), "link_key": generate_key()}
    async with notify_stack(
        postgres, services, production, webhook_allowed_hosts="hooks.localhost", **keys
    ) as s:
        for url, fault in (
            ("http://shop.example/hooks", "https"),
            ("https://127.0.0.1/hooks", "loopback"),
            ("https://10.1.2.3/hooks", "private"),
            ("https://169.254.169.254/latest/meta-data", "link-local"),
            ("https://localhost/hooks", "loopback"),
        ):
            response = await s.api.post(
                "/v1/notify/webhooks", json={"url": url, "events": ["message.sent"]}, headers=s.tenant.headers
            )
            assert response.status_code == 422, (url, response.text)
            [error] = response.json()["errors"]
            assert error["field"] == "url", (url, error)
            assert fault in error["message"], (url, error)
        allowed = await s.api.post(
            "/v1/notify/webhooks",
            json={"url": "https://hooks.localhost/in", "events": ["message.sent"]},
            headers=s.tenant.headers,
        )
        assert allowed.status_code == 201, allowed.text


async def test_an_unanswered_request_is_a_timeout_in_the_log(stack: Stack, receiver: Receiver) -> None:
    created = await create(stack, receiver, "slow", ["message.opened"])
    receiver.stalls["slow"] = [FAST["webhook_timeout_seconds"] + 1.0]  # type: ignore[operator]
    await enqueue(stack, event("message.opened"))
    [log] = await settled(stack, created["webhook_id"], 1)
    assert log["status"] == "delivered"
    timed_out, answered = log["attempts"]
    assert timed_out["status_code"] is None
    assert timed_out["error"] == "timeout"
    assert timed_out["duration_ms"] >= 1900
    assert answered["status_code"] == 200


async def test_disabling_cancels_the_webhooks_pending_deliveries(stack: Stack, receiver: Receiver) -> None:
    created = await create(stack, receiver, "stuck", ["message.suppressed"])
    receiver.default["stuck"] = 500
    later = event("message.suppressed")
    async with stack.notify.database.transaction() as connection:  # queued, but not due for an hour
        await enqueue_webhook_deliveries(connection, uuid.UUID(stack.tenant.tenant_id), [later])
        await connection.execute(
            sa.text(
                "UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 hour' "
                "WHERE event_id = :e"
            ),
            {"e": later.event_id},
        )
    for _ in range(DISABLE_AFTER):
        await enqueue(stack, event("message.suppressed"))
    logs = await settled(stack, created["webhook_id"], DISABLE_AFTER + 1)
    statuses = {d["event_id"]: d["status"] for d in logs}
    assert statuses.pop(later.event_id) == "cancelled"
    assert set(statuses.values()) == {"failed"}
    assert [d["attempts"] for d in logs if d["event_id"] == later.event_id] == [[]]


async def test_the_prune_deletes_finished_deliveries_past_the_retention(
    stack: Stack, receiver: Receiver
) -> None:
    """Runs last in this module: it prunes every finished delivery of the stack's database."""
    created = await create(stack, receiver, "pruned", ["message.converted"])
    await enqueue(stack, event("message.converted"))
    await settled(stack, created["webhook_id"], 1)
    queue = SqlDeliveryQueue(stack.notify.database, Sealer(bytes(32)))
    assert await queue.prune(datetime.now(UTC) - timedelta(days=1), chunk=2) == 0
    assert await queue.prune(datetime.now(UTC) + timedelta(seconds=1), chunk=2) >= 1
    assert (await deliveries(stack, created["webhook_id"]))["items"] == []

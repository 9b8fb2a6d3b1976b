"""A notify process SIGKILLed after its providers answered a delivery round and before the round's
results commit (``PATRON_NOTIFY_FAULT_KILL_BEFORE_RECORD=1``), then restarted without the fault.

The restarted worker finds the round's messages still claimed and ``in_flight`` once their lease
lapses. Provider ``http`` honours the idempotency key, so it is asked again with the same key: the
peer sees a second attempt of the same webhook-id and keeps one copy; every message ends ``sent``.
SMTP has no such key, so those messages end ``failed`` with ``outcome_unknown`` and are never sent
again: each mail is in the mailbox at most once, and at most one round's batch is left unknown.

Notify runs as a subprocess on a database of its own; profile and loyalty are the session's
in-process services, and a second in-process gateway reaches the subprocess.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.notify.fault_injection import KILL_BEFORE_RECORD_ENV
from services.notify.store.tables import tenants
from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.runtime.server import ServiceServer
from services.runtime.tenancy import Tenant
from services.runtime.tenant_store import upsert_tenant
from tests.conftest import TenantKey, gateway_client, gateway_settings
from tests.notify_peers import HttpPeer, SmtpPeer, serve
from tests.stream_heads import start_at_the_heads
from tests.support import PostgresServer, free_port
from tests.test_notify_messages_api import consent, email_channel, eventually, message, template

SECRET = "whsec_" + base64.b64encode(b"patron-crash-test-secret-32byte!").decode()
MESSAGES = 8
BATCH = 3
LEASE_SECONDS = 5


@dataclass
class CrashNotify:
    """A notify subprocess on its own database, the gateway that reaches it, and how to restart it."""

    database_url: str
    database: Database
    port: int
    profile: str
    loyalty: str
    api: httpx.AsyncClient
    process: subprocess.Popen[bytes] | None = None

    def start(self, *, kill_before_record: bool) -> None:
        env = {
            **os.environ,
            "PATRON_ENV": "test",
            "PATRON_LOG_FORMAT": "text",
            "PATRON_NOTIFY_DATABASE_URL": self.database_url,
            "PATRON_NOTIFY_GRPC_HOST": "127.0.0.1",
            "PATRON_NOTIFY_GRPC_PORT": str(self.port),
            "PATRON_NOTIFY_PROFILE_ADDRESS": self.profile,
            "PATRON_NOTIFY_LOYALTY_ADDRESS": self.loyalty,
            "PATRON_NOTIFY_CONSUMER_LEASE_SECONDS": "1",
            "PATRON_NOTIFY_DELIVERY_BATCH": str(BATCH),
            "PATRON_NOTIFY_DELIVERY_LOOPS": "1",  # one round in flight: the bound is loops x batch
            "PATRON_NOTIFY_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
            KILL_BEFORE_RECORD_ENV: "1" if kill_before_record else "0",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.notify"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def serving(self, limit_seconds: float = 20.0) -> None:
        """Wait until the subprocess answers its health check with SERVING."""
        deadline = asyncio.get_running_loop().time() + limit_seconds
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                assert self.process is not None
                assert self.process.poll() is None, "notify exited while starting"
                try:
                    answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError("the notify subprocess never became SERVING")
                await asyncio.sleep(0.1)

    async def killed(self) -> int:
        """The exit code of the process, which the fault injection SIGKILLs."""
        assert self.process is not None
        return await asyncio.wait_for(asyncio.to_thread(self.process.wait), timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    async def rows(self) -> list[Any]:
        async with self.database.read() as connection:
            result = await connection.execute(
                sa.text(
                    "SELECT message_id, status, reason, attempts, in_flight, claimed_until, provider "
                    "FROM messages ORDER BY created_at"
                )
            )
            return list(result)

    async def quiet_hours_end_now(self) -> None:
        """What the end of the quiet hours does to the deferred messages: they become due."""
        async with self.database.transaction() as connection:
            await connection.execute(sa.text("UPDATE messages SET due_at = now() WHERE status = 'deferred'"))


async def session_tenants(notify_url: str) -> list[Tenant]:
    """Every tenant the session's notify knows (all of them: each test's tenant is provisioned there)."""
    connection = await asyncpg.connect(notify_url)
    try:
        rows = await connection.fetch(
            "SELECT tenant_id, name, timezone, currency, default_region FROM tenants"
        )
    finally:
        await connection.close()
    return [
        Tenant(r["tenant_id"], r["name"], r["timezone"], r["currency"], r["default_region"]) for r in rows
    ]


@pytest.fixture
async def crash_notify(
    tenant: TenantKey,
    services: dict[str, ServiceServer],
    postgres: PostgresServer,
    database_urls: dict[str, str],
) -> AsyncIterator[CrashNotify]:
    """A migrated database for the subprocess, provisioned with every tenant of the session, whose
    consumers start at the producers' heads: left at the oldest event, they read every event of the
    session first, which late in a slow run took longer than the test waits for its first consent."""
    name = f"patron_notify_crash_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    await asyncio.to_thread(migrations.upgrade, "notify", url)
    await start_at_the_heads(database_urls, "notify", url)  # the test is the crash, not catching up
    database = Database(create_engine(url, application_name="test-notify-crash"))
    known = await session_tenants(database_urls["notify"])
    assert uuid.UUID(tenant.tenant_id) in {t.tenant_id for t in known}
    async with database.transaction() as connection:
        for each in known:
            await upsert_tenant(connection, tenants, each)
    port = free_port()
    addresses = {n: f"127.0.0.1:{s.bound_port}" for n, s in services.items()} | {
        "notify": f"127.0.0.1:{port}"
    }
    async with gateway_client(gateway_settings(addresses, rpc_timeout_seconds=10.0)) as api:
        crash = CrashNotify(url, database, port, addresses["profile"], addresses["loyalty"], api)
        try:
            yield crash
        finally:
            crash.stop()
            await database.dispose()
            await postgres.drop_database(name)


async def deferred_messages(
    crash: CrashNotify, tenant: TenantKey, customer_id: str, template_id: str
) -> list[str]:
    """Send MESSAGES inside quiet hours (all deferred), then end the quiet hours at once, so that the
    worker's first round claims a full batch."""
    now = datetime.now(UTC)
    quiet = {
        "start": (now - timedelta(minutes=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=2)).strftime("%H:%M"),
    }
    put = await crash.api.put(
        "/v1/notify/policy", json={"frequency_caps": [], "quiet_hours": quiet}, headers=tenant.headers
    )
    assert put.status_code == 200, put.text
    ids = []
    for index in range(MESSAGES):
        body = {"customer_id": customer_id, "template_id": template_id, "data": {"offer": f"offer {index}"}}
        answer = await crash.api.post("/v1/messages", json=body, headers=tenant.headers)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "deferred", answer.text
        ids.append(str(answer.json()["message_id"]))
    await crash.quiet_hours_end_now()
    return ids


async def crash_one_round(crash: CrashNotify) -> list[Any]:
    """Wait for the SIGKILL; answers the round's rows (claimed, in flight, nothing recorded)."""
    assert await crash.killed() == -9, "the fault injection should have killed the process"
    rows = await crash.rows()
    interrupted = [r for r in rows if r.in_flight]
    assert len(interrupted) == BATCH, rows
    assert all(r.status == "deferred" and r.attempts == 1 for r in interrupted), rows
    assert all(r.attempts == 0 for r in rows if not r.in_flight), rows
    return interrupted


async def finals(crash: CrashNotify, tenant: TenantKey, ids: list[str]) -> list[dict[str, Any]]:
    """Every message once none is queued or deferred any more (the restarted worker reclaims the
    interrupted ones after their lease)."""

    async def read() -> list[dict[str, Any]]:
        return [await message(crash.api, tenant, i) for i in ids]

    done = await eventually(read, lambda ms: all(m["status"] not in ("queued", "deferred") for m in ms))
    return done


async def customer_for(crash: CrashNotify, api: httpx.AsyncClient, tenant: TenantKey, channel: str) -> str:
    suffix = uuid.uuid4().int % 100_000_000
    body = {
        "identities": [
            {"type": "email", "value": f"crash{suffix}@example.com"},
            {"type": "phone", "value": f"+86139{suffix:08d}"},
        ],
        "attributes": {"nickname": "Hua", "timezone": "UTC"},
    }
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    customer_id = str(response.json()["customer_id"])
    await consent(crash.api, tenant, customer_id, channel)  # waits until the subprocess keeps it
    return customer_id


async def test_http_messages_interrupted_before_their_record_are_delivered_exactly_once(
    api: httpx.AsyncClient, tenant: TenantKey, crash_notify: CrashNotify
) -> None:
    crash = crash_notify
    peer = HttpPeer(secret=SECRET)
    async with serve(peer.app()) as url:
        crash.start(kill_before_record=True)
        await crash.serving()
        body = {"provider": "http", "settings": {"url": f"{url}/hook", "secret": SECRET}}
        put = await crash.api.put("/v1/notify/channels/sms", json=body, headers=tenant.headers)
        assert put.status_code == 200, put.text
        customer_id = await customer_for(crash, api, tenant, "sms")
        template = {
            "name": "crash sms",
            "channel": "sms",
            "purpose": "marketing",
            "body": "Hi {{ data.offer }}",
        }
        created = await crash.api.post("/v1/notify/templates", json=template, headers=tenant.headers)
        assert created.status_code == 201, created.text
        ids = await deferred_messages(crash, tenant, customer_id, str(created.json()["template_id"]))

        interrupted = {str(r.message_id) for r in await crash_one_round(crash)}
        assert set(peer.received) == interrupted  # the provider answered before the kill

        crash.start(kill_before_record=False)
        await crash.serving()
        ended = await finals(crash, tenant, ids)

    assert [m["status"] for m in ended] == ["sent"] * MESSAGES, ended
    assert set(peer.received) == set(ids)  # every message delivered, each stored once by the peer
    assert {key: peer.attempts[key] for key in interrupted} == dict.fromkeys(interrupted, 2)
    assert all(peer.attempts[key] == 1 for key in set(ids) - interrupted)
    assert set(peer.idempotency_keys) == set(ids)  # a retry carries the same key as the first try
    assert peer.bad_signatures == 0
    assert {m["attempts"] for m in ended if m["message_id"] in interrupted} == {2}


async def test_smtp_messages_interrupted_before_their_record_fail_as_outcome_unknown_never_twice(
    api: httpx.AsyncClient, tenant: TenantKey, crash_notify: CrashNotify
) -> None:
    crash = crash_notify
    with SmtpPeer() as peer:
        crash.start(kill_before_record=True)
        await crash.serving()
        await email_channel(crash.api, tenant, peer)
        customer_id = await customer_for(crash, api, tenant, "email")
        ids = await deferred_messages(crash, tenant, customer_id, await template(crash.api, tenant))

        interrupted = {str(r.message_id) for r in await crash_one_round(crash)}
        assert mail_ids(peer) == sorted(interrupted)  # the server took them before the kill

        crash.start(kill_before_record=False)
        await crash.serving()
        ended = await finals(crash, tenant, ids)

        unknown = [m for m in ended if m["status"] == "failed"]
        assert {m["message_id"] for m in unknown} == interrupted
        assert len(unknown) <= BATCH  # the documented bound: one round's batch at most
        assert {(m["reason"], m["attempts"]) for m in unknown} == {
            ("outcome_unknown", 2)
        }  # two claims, one send
        assert all(m["error"] and "interrupted" in m["error"] for m in unknown)
        assert sorted(m["message_id"] for m in ended if m["status"] == "sent") == sorted(
            set(ids) - interrupted
        )
        await asyncio.sleep(0.5)  # a late second copy would show up now
        assert mail_ids(peer) == sorted(ids)  # each message in the mailbox exactly once


def mail_ids(peer: SmtpPeer) -> list[str]:
    """The notify message ids of the mails received, from their deterministic Message-ID."""
    ids = []
    for _, raw in peer.handler.messages:
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        ids.append(str(mail["Message-ID"]).strip("<>").split("@", 1)[0])
    return sorted(ids)

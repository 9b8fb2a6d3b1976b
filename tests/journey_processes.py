"""Notify as separate processes for the journey tests that kill it or run two of it: a database of its
own (migrated, provisioned with the session's tenants), processes started and SIGKILLed at will with
their log in a file, a gateway that reaches them, and the many customers those tests need.

Profile, loyalty and scoring are the session's in-process services; the subprocesses consume their
event streams like any notify replica would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.notify.store.tables import tenants
from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.runtime.server import ServiceServer
from services.runtime.tenant_store import upsert_tenant
from tests.conftest import TenantKey, gateway_client, gateway_settings
from tests.journey_support import query
from tests.stream_heads import start_at_the_heads
from tests.support import PostgresServer, free_port
from tests.test_notify_crash import session_tenants

SECRET = "whsec_" + base64.b64encode(b"patron-journey-crash-secret-32b!").decode()
PARALLEL_CALLS = 4
"""Gateway calls in flight while setting up customers (the services share this test's loop)."""

T = TypeVar("T")


@dataclass
class NotifyProcess:
    """One notify subprocess on the shared test database; its log goes to ``log_path``."""

    port: int
    environment: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, **faults: str) -> None:
        """Start (again), with fault variables for this run only (``PATRON_NOTIFY_FAULT_...=...``)."""
        assert self.process is None or self.process.poll() is not None, "still running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} {faults}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.notify"],
                env={**self.environment, **faults},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    async def serving(self, limit_seconds: float = 30.0, *, may_die: bool = False) -> None:
        """Wait until the process answers its health check with SERVING. ``may_die``: started with a
        kill fault, it may reach its fault (a SIGKILL of its own) before the check sees it serve — a
        batch of coupons comes back at once — and that counts as having started."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_seconds
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                assert self.process is not None
                if may_die and self.process.poll() == -9:
                    return
                assert self.process.poll() is None, self.tail()
                try:
                    answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                if loop.time() > deadline:
                    raise TimeoutError("the notify subprocess never became SERVING")
                await asyncio.sleep(0.1)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL from outside (a random moment)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def exit_code(self, limit_seconds: float = 60.0) -> int:
        """The process's exit code once it ended (-9: SIGKILLed)."""
        assert self.process is not None
        return await asyncio.wait_for(asyncio.to_thread(self.process.wait), timeout=limit_seconds)

    def stop(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


@dataclass
class NotifyCluster:
    """The subprocesses' database, their processes and a gateway reaching the first of them."""

    url: str
    clock_file: Path
    api: httpx.AsyncClient
    processes: list[NotifyProcess] = field(default_factory=list)

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await query(self.url, sql, *args)


def notify_environment(
    url: str, port: int, services: dict[str, ServiceServer], clock_file: Path, **settings: str
) -> dict[str, str]:
    """The environment of one notify process: test runtime, its port, the session's services, fast
    journey and delivery leases (a killed process's work is taken again within seconds)."""
    values = {
        "PATRON_ENV": "test",
        "PATRON_LOG_FORMAT": "text",
        "PATRON_NOTIFY_DATABASE_URL": url,
        "PATRON_NOTIFY_GRPC_HOST": "127.0.0.1",
        "PATRON_NOTIFY_GRPC_PORT": str(port),
        "PATRON_NOTIFY_CONSUMER_LEASE_SECONDS": "1",
        "PATRON_NOTIFY_JOURNEY_CLOCK_FILE": str(clock_file),
        "PATRON_NOTIFY_JOURNEY_LEASE_SECONDS": "5",
        "PATRON_NOTIFY_JOURNEY_IDLE_SECONDS": "0.2",
        "PATRON_NOTIFY_JOURNEY_RETRY_BASE_SECONDS": "0.2",
        "PATRON_NOTIFY_JOURNEY_CONCURRENCY": "16",
        "PATRON_NOTIFY_DELIVERY_LEASE_SECONDS": "5",
        "PATRON_NOTIFY_DELIVERY_IDLE_SECONDS": "0.2",
        "PATRON_NOTIFY_DB_POOL_SIZE": "8",  # beside the session's services, within 100 connections
        "PATRON_NOTIFY_DB_HOT_POOL_SIZE": "2",
        **{
            f"PATRON_NOTIFY_{name.upper()}_ADDRESS": f"127.0.0.1:{s.bound_port}"
            for name, s in services.items()
        },
        **settings,
    }
    return {**os.environ, **values}


@asynccontextmanager
async def notify_cluster(
    replicas: int,
    tenant: TenantKey,
    services: dict[str, ServiceServer],
    postgres: PostgresServer,
    database_urls: dict[str, str],
    directory: Path,
    **settings: str,
) -> AsyncIterator[NotifyCluster]:
    """``replicas`` notify processes (not started) on one fresh database provisioned with every
    tenant of the session, its consumers starting at the producers' current heads (the tests make
    their data after this; catching up the whole session's streams would only cost time)."""
    name = f"patron_notify_journeys_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    await asyncio.to_thread(migrations.upgrade, "notify", url)
    await start_at_the_heads(database_urls, "notify", url)
    database = Database(create_engine(url, application_name="test-journey-processes"))
    known = await session_tenants(database_urls["notify"])
    assert uuid.UUID(tenant.tenant_id) in {t.tenant_id for t in known}
    async with database.transaction() as connection:
        for each in known:
            await upsert_tenant(connection, tenants, each)
    await database.dispose()
    clock_file = directory / "journey-clock"
    clock_file.write_text("0")
    processes = []
    for index in range(replicas):
        port = free_port()
        environment = notify_environment(url, port, services, clock_file, **settings)
        processes.append(NotifyProcess(port, environment, directory / f"notify-{index}.log"))
    addresses = {n: f"127.0.0.1:{s.bound_port}" for n, s in services.items()} | {
        "notify": f"127.0.0.1:{processes[0].port}"
    }
    try:
        async with gateway_client(gateway_settings(addresses, rpc_timeout_seconds=10.0)) as api:
            yield NotifyCluster(url, clock_file, api, processes)
    finally:
        for process in processes:
            process.stop()
        await postgres.drop_database(name)


async def bounded(calls: Sequence[Callable[[], Awaitable[T]]], limit: int = PARALLEL_CALLS) -> list[T]:
    """Run the calls with at most ``limit`` in flight; answers in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def patiently(call: Callable[[], Awaitable[httpx.Response]], tries: int = 4) -> httpx.Response:
    """An idempotent setup call, asked again when the loaded machine made the gateway time out (504);
    the setup is not what these tests examine."""
    answer = await call()
    for _ in range(tries - 1):
        if answer.status_code != 504:
            break
        answer = await call()
    return answer


async def consented_customers(api: httpx.AsyncClient, tenant: TenantKey, emails: Sequence[str]) -> list[str]:
    """Identify a customer per address and grant e-mail marketing consent; answers their ids."""

    async def make(address: str) -> str:
        body = {"identities": [{"type": "email", "value": address}], "attributes": {"timezone": "UTC"}}
        made = await patiently(lambda: api.post("/v1/customers/identify", json=body, headers=tenant.headers))
        assert made.status_code == 200, made.text
        customer_id = str(made.json()["customer_id"])
        grant = {"channel": "email", "purpose": "marketing", "granted": True}
        path = f"/v1/customers/{customer_id}/consents"
        kept = await patiently(lambda: api.put(path, json=grant, headers=tenant.headers))
        assert kept.status_code == 200, kept.text
        return customer_id

    return await bounded([lambda address=address: make(address) for address in emails])  # type: ignore[misc]


async def add_to_cart_all(api: httpx.AsyncClient, tenant: TenantKey, customer_ids: Sequence[str]) -> None:
    """One add_to_cart per customer, 500 a call."""
    now = datetime.now(UTC).isoformat()
    for start in range(0, len(customer_ids), 500):
        events = [
            {
                "event_id": f"cart-{uuid.uuid4().hex}",
                "customer_id": customer_id,
                "type": "add_to_cart",
                "occurred_at": now,
                "properties": {"sku": "TEA-1"},
            }
            for customer_id in customer_ids[start : start + 500]
        ]
        answer = await api.post("/v1/events", json={"events": events}, headers=tenant.headers)
        assert answer.is_success, answer.text
        assert answer.json()["accepted"] == len(events), answer.text


async def pay_all(api: httpx.AsyncClient, tenant: TenantKey, customer_ids: Sequence[str]) -> None:
    """A paid order (paid now) per customer, 500 a call."""
    for start in range(0, len(customer_ids), 500):
        orders = [
            {
                "order_id": f"SO-{uuid.uuid4().hex[:16]}",
                "customer_id": customer_id,
                "paid_at": datetime.now(UTC).isoformat(),
                "currency": "CNY",
                "amount_minor": 9900,
                "items": [{"sku": "TEA-1", "unit_price_minor": 9900, "quantity": 1}],
            }
            for customer_id in customer_ids[start : start + 500]
        ]
        answer = await api.post("/v1/orders/batch", json={"orders": orders}, headers=tenant.headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == len(orders), answer.text


async def http_channel(api: httpx.AsyncClient, tenant: TenantKey, url: str) -> None:
    """E-mail delivered by provider ``http`` to ``url``: one POST per message, keyed by its id."""
    body = {"provider": "http", "settings": {"url": url, "secret": SECRET}}
    put = await api.put("/v1/notify/channels/email", json=body, headers=tenant.headers)
    assert put.status_code == 200, put.text


async def reminder_template(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    body = {
        "name": f"cart reminder {uuid.uuid4().hex[:6]}",
        "channel": "email",
        "purpose": "marketing",
        "subject": "库存紧张",
        "body": "您的购物车还在: 用券 {{ coupon.code }}",
    }
    created = await api.post("/v1/notify/templates", json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["template_id"])


async def coupon_template(api: httpx.AsyncClient, tenant: TenantKey, name: str = "5元无门槛") -> str:
    """A loyalty coupon template a customer may hold ten of: a second issue would show, not be refused."""
    body = {
        "name": name,
        "kind": "no_threshold",
        "discount_minor": 500,
        "valid_days": 7,
        "per_customer_limit": 10,
    }
    response = await api.post("/v1/coupon-templates", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["template_id"])


async def waiting_for(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float, what: str
) -> T:
    """Poll ``read`` until ``done``; fails naming ``what`` and the last value after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = await read()
        if done(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {seconds} s")
        await asyncio.sleep(0.2)


def issue_key(instance_id: uuid.UUID | str, path: str) -> str:
    """The key loyalty stores for a journey step's coupon (its ``scoped_key`` of the step key)."""
    return "issue:" + hashlib.sha256(f"journey:{instance_id}:{path}".encode()).hexdigest()


async def coupons_by_customer(loyalty_url: str, tenant: TenantKey, template_id: str) -> dict[str, list[Any]]:
    """Every coupon of the template loyalty issued, by customer (code, issue key)."""
    rows = await query(
        loyalty_url,
        "SELECT customer_id, code, issue_key FROM coupons WHERE tenant_id = $1 AND template_id = $2",
        uuid.UUID(tenant.tenant_id),
        uuid.UUID(template_id),
    )
    found: dict[str, list[Any]] = {}
    for row in rows:
        found.setdefault(str(row["customer_id"]), []).append(row)
    return found

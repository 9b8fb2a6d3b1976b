"""Two replicas of every service behind one gateway, whose channels balance over both: each
consumer's partitions are shared between its replicas, every effect happens once (orders sent twice
each), and when one replica of every service stops, the other takes over its partitions and the
calls (docs/scaling.md)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa

from services.runtime.database import Database, create_engine
from services.runtime.server import ServiceServer
from services.runtime.settings import SERVICE_NAMES
from tests.conftest import START_ORDER, create_tenant, gateway_client, gateway_settings
from tests.support import PostgresServer, migrated_databases, start_service

CONSUMING = ("scoring", "loyalty", "notify")  # profile only produces
CUSTOMERS = 12
ORDERS_EACH = 3
AMOUNT_MINOR = 10_000  # 100 points an order under the default programme
WAIT_SECONDS = 30.0
# Small pools: eight more servers share the machine's PostgreSQL (100 connections) with the session's.
REPLICA_SETTINGS: dict[str, object] = {
    "db_pool_size": 3,
    "db_hot_pool_size": 1,
    "consumer_lease_seconds": 1.0,
    "segment_due_every_seconds": 0.5,
}


def _address(servers: list[ServiceServer]) -> str:
    """The gRPC target naming every replica (the channels balance calls over them)."""
    return "ipv4:" + ",".join(f"127.0.0.1:{server.bound_port}" for server in servers)


async def _start_replicas(urls: dict[str, str]) -> dict[str, list[ServiceServer]]:
    """Replica 0 of each service in dependency order, then replica 1 of each, every one pointing
    at all the replicas of its peers that are running."""
    replicas: dict[str, list[ServiceServer]] = {name: [] for name in SERVICE_NAMES}
    for _ in range(2):
        for name in sorted(SERVICE_NAMES, key=START_ORDER.index):
            peers = {f"{n}_address": _address(s) for n, s in replicas.items() if s}
            replicas[name].append(await start_service(name, urls[name], **REPLICA_SETTINGS, **peers))
    return replicas


async def _eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: still {last!r} after {WAIT_SECONDS} s")


async def _owners(databases: dict[str, Database]) -> dict[str, dict[str, int]]:
    """Each consumer's partitions by owner (live leases only), over the consuming services' databases."""
    found: dict[str, dict[str, int]] = {}
    for name in CONSUMING:
        database = databases[name]
        async with database.read() as connection:
            rows = await connection.execute(
                sa.text(
                    "SELECT consumer, owner, count(*) FROM consumer_positions "
                    "WHERE owner IS NOT NULL AND lease_expires_at > now() GROUP BY consumer, owner"
                )
            )
            for consumer, owner, count in rows:
                found.setdefault(consumer, {})[owner] = count
    return found


async def _points(api: httpx.AsyncClient, headers: dict[str, str], customer_id: str) -> int:
    response = await api.get(f"/v1/customers/{customer_id}/points", headers=headers)
    assert response.status_code == 200, response.text
    balance: int = response.json()["balance"]
    return balance


async def _credits(database: Database, tenant_id: str) -> list[tuple[str, int]]:
    """The order credits in loyalty's ledger: (``order:<id>``, times credited)."""
    async with database.read() as connection:
        rows = await connection.execute(
            sa.text(
                "SELECT source, count(*) FROM point_entries WHERE tenant_id = :t AND type = 'earn' "
                "GROUP BY source"
            ),
            {"t": uuid.UUID(tenant_id)},
        )
        return [(str(source), int(count)) for source, count in rows]


async def test_two_replicas_of_every_service_share_the_work_and_apply_each_effect_once(
    postgres: PostgresServer,
) -> None:
    async with migrated_databases(postgres) as urls:
        replicas = await _start_replicas(urls)
        databases = {
            name: Database(create_engine(url, application_name="test-replicas")) for name, url in urls.items()
        }
        try:
            settings = gateway_settings({name: _address(servers) for name, servers in replicas.items()})
            async with gateway_client(settings) as api:
                await _drive(api, replicas, databases)
        finally:
            for servers in replicas.values():
                for server in servers:
                    await server.stop(grace=1)
            for database in databases.values():
                await database.dispose()


async def _drive(
    api: httpx.AsyncClient, replicas: dict[str, list[ServiceServer]], databases: dict[str, Database]
) -> None:
    tenant = await create_tenant(api, name="Replicated shop")

    async def shared() -> bool:
        owners = await _owners(databases)
        return bool(owners) and all(len(by_owner) == 2 for by_owner in owners.values())

    await _eventually(shared, "every consumer's partitions shared by two replicas")

    async def customer(index: int) -> str:
        body = {"identities": [{"type": "external_id", "value": f"replica-{index}"}]}
        response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
        assert response.status_code == 200, response.text
        customer_id: str = response.json()["customer_id"]
        return customer_id

    async def pay(customer_id: str, order_id: str) -> None:
        body = {
            "order_id": order_id,
            "customer_id": customer_id,
            "paid_at": "2026-03-01T10:15:00+08:00",
            "currency": "CNY",
            "amount_minor": AMOUNT_MINOR,
            "items": [{"sku": "TEA-1", "unit_price_minor": AMOUNT_MINOR, "quantity": 1}],
        }
        for _ in range(2):  # a storefront's retry: the same order again changes nothing
            response = await api.post("/v1/orders", json=body, headers=tenant.headers)
            assert response.status_code in (200, 201), response.text

    customers = await asyncio.gather(*(customer(i) for i in range(CUSTOMERS)))
    await asyncio.gather(
        *(pay(c, f"SO-{i}-{n}") for i, c in enumerate(customers) for n in range(ORDERS_EACH))
    )

    async def all_earned(expected: int) -> bool:
        balances = await asyncio.gather(*(_points(api, tenant.headers, c) for c in customers))
        return all(balance == expected for balance in balances)

    await _eventually(lambda: all_earned(ORDERS_EACH * 100), "every order's points earned")

    # One replica of every service stops; the other takes its partitions and its calls.
    for servers in replicas.values():
        await servers[0].stop(grace=1)

    async def taken_over() -> bool:
        owners = await _owners(databases)
        return bool(owners) and all(len(by_owner) == 1 for by_owner in owners.values())

    await _eventually(taken_over, "the surviving replicas holding every partition")
    await asyncio.gather(*(pay(c, f"SO-{i}-late") for i, c in enumerate(customers)))
    await _eventually(lambda: all_earned((ORDERS_EACH + 1) * 100), "the late orders' points earned")
    credits = await _credits(databases["loyalty"], tenant.tenant_id)
    assert len(credits) == CUSTOMERS * (ORDERS_EACH + 1)
    assert {count for _, count in credits} == {1}  # no order credited twice

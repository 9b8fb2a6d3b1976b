"""Profile's customer events reach scoring's projection through the stream, once each."""

import asyncio
import uuid

import asyncpg
import grpc
import httpx

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from services.runtime.server import ServiceServer
from tests.conftest import TenantKey


async def wait_for(check, limit_seconds: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + limit_seconds
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


async def test_identify_reaches_the_scoring_projection_once(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    database_urls: dict[str, str],
    services: dict[str, ServiceServer],
) -> None:
    body = {"identities": [{"type": "app_user_id", "value": "e2e-1"}], "attributes": {"device": "app"}}
    created = (await api.post("/v1/customers/identify", json=body, headers=tenant.headers)).json()
    body["attributes"] = {"city": "Hangzhou"}
    await api.post("/v1/customers/identify", json=body, headers=tenant.headers)

    scoring = await asyncpg.connect(database_urls["scoring"])
    try:

        async def projected() -> asyncpg.Record | None:
            row = await scoring.fetchrow(
                "SELECT device, events_applied FROM customers WHERE tenant_id = $1 AND customer_id = $2",
                uuid.UUID(tenant.tenant_id),
                uuid.UUID(created["customer_id"]),
            )
            return row if row is not None and row["events_applied"] == 2 else None

        row = await wait_for(projected)
        assert row["device"] == "app"
        await asyncio.sleep(0.5)
        again = await scoring.fetchval(
            "SELECT events_applied FROM customers WHERE customer_id = $1", uuid.UUID(created["customer_id"])
        )
        assert again == 2
    finally:
        await scoring.close()

    async with grpc.aio.insecure_channel(f"127.0.0.1:{services['scoring'].bound_port}") as channel:
        status = await envelope_pb2_grpc.ConsumerStatusStub(channel).GetConsumerStatus(
            envelope_pb2.GetConsumerStatusRequest(), timeout=2
        )
    partitions = [p for p in status.partitions if p.consumer == "scoring.customers"]
    assert len(partitions) == 16
    assert all(p.owner for p in partitions)

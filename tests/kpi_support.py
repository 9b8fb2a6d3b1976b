"""What the KPI tests share: waiting until the consumers applied a tenant's events, and writing a
history through the gateway (customers, orders, refunds, behaviour)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from tests.conftest import TenantKey

CONSUMERS = {"scoring": ("scoring.customers",), "loyalty": ("loyalty.events",), "notify": ("notify.events",)}


async def settled(
    urls: dict[str, str],
    tenant_id: str,
    services: Sequence[str] = ("scoring", "loyalty"),
    seconds: float = 20.0,
) -> None:
    """Wait until every event profile wrote for the tenant is sequenced and the consumers of
    ``services`` have applied it (their stored position passed it, in every partition)."""
    deadline = time.monotonic() + seconds
    profile = await asyncpg.connect(urls["profile"])
    consumers = {name: await asyncpg.connect(urls[name]) for name in services}
    try:
        while True:
            rows = await profile.fetch(
                "SELECT o.partition, max(p.position) AS last, "
                "count(*) FILTER (WHERE p.position IS NULL) AS waiting "
                "FROM outbox o LEFT JOIN outbox_positions p ON p.outbox_id = o.id "
                "WHERE o.tenant_id = $1 GROUP BY o.partition",
                tenant_id,
            )
            wanted = {row["partition"]: row["last"] for row in rows}
            done = not any(row["waiting"] for row in rows)
            for name, connection in consumers.items():
                positions = {
                    row["partition"]: row["position"]
                    for row in await connection.fetch(
                        "SELECT partition, position FROM consumer_positions WHERE consumer = ANY($1::text[])",
                        list(CONSUMERS[name]),
                    )
                }
                done = done and all(positions.get(p, 0) >= last for p, last in wanted.items())
            if done:
                return
            assert time.monotonic() < deadline, "the consumers did not catch up in time"
            await asyncio.sleep(0.05)
    finally:
        await profile.close()
        for connection in consumers.values():
            await connection.close()


def local_instant(day: date, hour: int, zone: str) -> datetime:
    """The UTC instant of ``hour``:17 on the tenant-local ``day``."""
    return datetime.combine(day, clock(hour, 17), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def today_in(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


async def identify(api: httpx.AsyncClient, tenant: TenantKey, label: str) -> str:
    response = await api.post(
        "/v1/customers/identify",
        json={"identities": [{"type": "external_id", "value": label}]},
        headers=tenant.headers,
    )
    assert response.status_code in (200, 201), response.text
    customer_id: str = response.json()["customer_id"]
    return customer_id


async def pay(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    customer_id: str,
    order_id: str,
    at: datetime,
    amount: int,
    currency: str = "CNY",
) -> None:
    body = {
        "order_id": order_id,
        "customer_id": customer_id,
        "paid_at": at.isoformat(),
        "currency": currency,
        "amount_minor": amount,
        "items": [{"sku": "S", "unit_price_minor": amount, "quantity": 1}],
    }
    response = await api.post("/v1/orders", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text


async def refund(
    api: httpx.AsyncClient, tenant: TenantKey, order_id: str, refund_id: str, amount: int
) -> None:
    body = {"refund_id": refund_id, "amount_minor": amount}
    response = await api.post(f"/v1/orders/{order_id}/refunds", json=body, headers=tenant.headers)
    assert response.status_code in (200, 201), response.text


async def behave(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    customer_id: str,
    event_id: str,
    kind: str,
    at: datetime,
    properties: dict[str, Any] | None = None,
) -> None:
    event: dict[str, Any] = {
        "event_id": event_id,
        "type": kind,
        "occurred_at": at.isoformat(),
        "customer_id": customer_id,
    }
    if properties is not None:
        event["properties"] = properties
    response = await api.post("/v1/events", json={"events": [event]}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1, response.text


async def kpis(api: httpx.AsyncClient, tenant: TenantKey, first: date, last: date) -> dict[str, Any]:
    response = await api.get(
        "/v1/kpis", params={"from": first.isoformat(), "to": last.isoformat()}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer

"""A merge keeps the merged customer's orders for journeys even when the survivor has no facts row yet.

Customers created before journeys existed (a deployment upgraded to notify_0004: its consumer is past
their ``customer.created``) have no ``journey_customer_facts`` row. The merge used to delete the
merged customer's row and only *update* the survivor's, so the survivor lost the merged customer's
first order and last order time: a later order counted as "first" again, and ``since_trigger`` missed
an order paid since the trigger.
"""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import TenantKey
from tests.journey_support import query
from tests.test_journey_engine import pay_now
from tests.test_notify_messages_api import customer, eventually


async def facts(notify_url: str, tenant: TenantKey, customer_id: str) -> list[dict[str, object]]:
    return await query(
        notify_url,
        "SELECT first_order_id, last_order_at FROM journey_customer_facts "
        "WHERE tenant_id = $1 AND customer_id = $2",
        uuid.UUID(tenant.tenant_id),
        uuid.UUID(customer_id),
    )


async def test_a_merge_into_a_survivor_without_facts_keeps_the_merged_orders(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    notify = database_urls["notify"]
    survivor = await customer(api, tenant, f"old-{uuid.uuid4().hex[:6]}@shop.example")
    merged = await customer(api, tenant, f"new-{uuid.uuid4().hex[:6]}@shop.example")
    await eventually(lambda: facts(notify, tenant, survivor), lambda rows: len(rows) == 1)
    # the survivor as a customer from before journeys: notify keeps no facts of them
    await query(
        notify,
        "DELETE FROM journey_customer_facts WHERE tenant_id = $1 AND customer_id = $2",
        uuid.UUID(tenant.tenant_id),
        uuid.UUID(survivor),
    )
    order_id = await pay_now(api, tenant, merged)
    paid = await eventually(
        lambda: facts(notify, tenant, merged),
        lambda rows: bool(rows) and rows[0]["first_order_id"] is not None,
    )
    response = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    await eventually(lambda: facts(notify, tenant, merged), lambda rows: not rows)
    kept = await eventually(lambda: facts(notify, tenant, survivor), lambda rows: len(rows) == 1)
    assert kept[0]["first_order_id"] == order_id
    assert kept[0]["last_order_at"] == paid[0]["last_order_at"]

"""What journeys keep of a customer, and what happens to their instances when the customer changes.

In the consumer's transaction, from profile's events:

- ``journey_customer_facts``: birthday (month and day) and time zone from the customer's attributes,
  the first paid order (``first_order_id``: the first one seen stays, so a replay cannot make a later
  order "first") and the last paid order's time (``since_trigger`` checks read it);
- a paid order reaches the goal of every live instance with one that the customer entered before
  paying: the instance ends ``converted`` with the order and its amount;
- a merge moves the merged customers' live instances to the survivor, unless the survivor already
  has a live instance of that journey (or ran it under the same entry), in which case they stop
  (``merged``); their entries go with them so "never again" still holds for the survivor;
- an erasure stops every live instance (``erased``), empties the instances' context (trigger data,
  coupon codes) and forgets the customer's facts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.store.journey_entry import end_live

_ORDER = sa.text(
    """
    INSERT INTO journey_customer_facts AS f
      (tenant_id, customer_id, first_order_id, last_order_at, updated_at)
    VALUES (:tenant, :customer, :order_id, :paid_at, now())
    ON CONFLICT (tenant_id, customer_id) DO UPDATE
      SET first_order_id = COALESCE(f.first_order_id, EXCLUDED.first_order_id),
          last_order_at = GREATEST(f.last_order_at, EXCLUDED.last_order_at), updated_at = now()
    RETURNING first_order_id
    """
)

_END_LIVE = """
    UPDATE journey_instances AS i
    SET status = :status, cursor = NULL, due_at = NULL, ended_at = :now, end_reason = :reason,
        lease_token = NULL, lease_until = NULL {extra}
    WHERE i.tenant_id = :tenant AND i.status = 'active' AND {where}
    RETURNING i.instance_id, i.journey_id
"""

_CONVERT = sa.text(
    _END_LIVE.format(
        extra=", converted_order_id = :order_id, revenue_minor = :amount",
        where="""i.customer_id = :customer AND i.trigger_at <= :paid_at AND EXISTS (
          SELECT 1 FROM journey_versions AS v
          WHERE v.tenant_id = i.tenant_id AND v.journey_id = i.journey_id AND v.version = i.version
            AND v.has_goal)""",
    )
)

_STOP_CUSTOMERS = sa.text(_END_LIVE.format(extra="", where="i.customer_id = ANY(:customers)"))

_STOP_DUPLICATES = sa.text(
    _END_LIVE.format(
        extra="",
        where="""i.customer_id = ANY(:customers) AND (
          EXISTS (SELECT 1 FROM journey_instances AS s
                  WHERE s.tenant_id = i.tenant_id AND s.journey_id = i.journey_id
                    AND s.customer_id = :survivor AND (s.status = 'active' OR s.entry_key = i.entry_key))
          OR EXISTS (SELECT 1 FROM journey_instances AS o
                  WHERE o.tenant_id = i.tenant_id AND o.journey_id = i.journey_id
                    AND o.customer_id = ANY(:customers) AND o.status = 'active'
                    AND (o.entered_at, o.instance_id) < (i.entered_at, i.instance_id)))""",
    )
)

_MOVE_INSTANCES = sa.text(
    """
    UPDATE journey_instances SET customer_id = :survivor
    WHERE tenant_id = :tenant AND customer_id = ANY(:customers) AND status = 'active'
    """
)

_MOVE_ENTRIES = sa.text(
    """
    WITH gone AS (
      DELETE FROM journey_entries
      WHERE tenant_id = :tenant AND customer_id = ANY(:customers)
      RETURNING journey_id, last_entered_at, live_instance_id
    ), folded AS (
      SELECT journey_id, max(last_entered_at) AS last_entered_at,
             (array_agg(live_instance_id) FILTER (WHERE live_instance_id IS NOT NULL))[1] AS live_instance_id
      FROM gone GROUP BY journey_id
    )
    INSERT INTO journey_entries AS e (tenant_id, journey_id, customer_id, last_entered_at, live_instance_id)
    SELECT :tenant, journey_id, :survivor, last_entered_at, live_instance_id FROM folded
    ON CONFLICT (tenant_id, journey_id, customer_id) DO UPDATE
      SET last_entered_at = GREATEST(e.last_entered_at, EXCLUDED.last_entered_at),
          live_instance_id = COALESCE(e.live_instance_id, EXCLUDED.live_instance_id)
    """
)

_MOVE_FACTS = sa.text(
    """
    WITH gone AS (
      DELETE FROM journey_customer_facts
      WHERE tenant_id = :tenant AND customer_id = ANY(:customers)
      RETURNING first_order_id, last_order_at
    ), folded AS (
      SELECT max(first_order_id) AS first_order_id, max(last_order_at) AS last_order_at FROM gone
    )
    INSERT INTO journey_customer_facts AS f
      (tenant_id, customer_id, first_order_id, last_order_at, updated_at)
    SELECT :tenant, :survivor, first_order_id, last_order_at, now() FROM folded
    WHERE first_order_id IS NOT NULL OR last_order_at IS NOT NULL
    ON CONFLICT (tenant_id, customer_id) DO UPDATE
      SET first_order_id = COALESCE(f.first_order_id, EXCLUDED.first_order_id),
          last_order_at = GREATEST(f.last_order_at, EXCLUDED.last_order_at), updated_at = now()
    """
)

_FORGET = sa.text(
    """
    WITH facts AS (
      DELETE FROM journey_customer_facts WHERE tenant_id = :tenant AND customer_id = :customer
    )
    UPDATE journey_instances SET context = '{}'::jsonb
    WHERE tenant_id = :tenant AND customer_id = :customer
    """
)


def birthday_parts(birthday: str | None) -> tuple[int | None, int | None]:
    """Month and day of an ISO birthday (``YYYY-MM-DD`` or ``MM-DD``); (None, None) without one."""
    if not birthday:
        return None, None
    parts = birthday.split("-")
    try:
        month, day = int(parts[-2]), int(parts[-1])
    except (ValueError, IndexError):
        return None, None
    return (month, day) if 1 <= month <= 12 and 1 <= day <= 31 else (None, None)


_FACTS = sa.text(
    """
    INSERT INTO journey_customer_facts (tenant_id, customer_id, birth_month, birth_day, timezone, updated_at)
    SELECT t, c, m, d, z, now()
    FROM unnest(CAST(:tenants AS uuid[]), CAST(:customers AS uuid[]), CAST(:months AS int[]),
                CAST(:days AS int[]), CAST(:zones AS text[])) AS x(t, c, m, d, z)
    ON CONFLICT (tenant_id, customer_id) DO UPDATE
      SET birth_month = EXCLUDED.birth_month, birth_day = EXCLUDED.birth_day,
          timezone = EXCLUDED.timezone, updated_at = now()
    """
)


async def record_attributes(
    connection: AsyncConnection,
    facts: Sequence[tuple[uuid.UUID, uuid.UUID, str | None, str | None]],
) -> None:
    """Keep each customer's birthday and time zone as profile last said them, from
    ``(tenant, customer, birthday, timezone)`` in one statement; a customer named more than once
    keeps the last (as the events would, one after another)."""
    last = {(tenant, customer): (birthday, zone) for tenant, customer, birthday, zone in facts}
    if not last:
        return
    parts = [birthday_parts(birthday) for birthday, _ in last.values()]
    await connection.execute(
        _FACTS,
        {
            "tenants": [tenant for tenant, _ in last],
            "customers": [customer for _, customer in last],
            "months": [month for month, _ in parts],
            "days": [day for _, day in parts],
            "zones": [zone or None for _, zone in last.values()],
        },
    )


async def record_order(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    order_id: str,
    paid_at: datetime,
) -> bool:
    """Keep the paid order; answers whether it is the customer's first."""
    first = await connection.scalar(
        _ORDER, {"tenant": tenant_id, "customer": customer_id, "order_id": order_id, "paid_at": paid_at}
    )
    return bool(first == order_id)


async def reach_goals(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    order_id: str,
    amount_minor: int,
    paid_at: datetime,
    now: datetime,
) -> int:
    """End ``converted`` every live instance with a goal that the customer entered before paying."""
    rows = list(
        await connection.execute(
            _CONVERT,
            {
                "tenant": tenant_id,
                "customer": customer_id,
                "status": "converted",
                "reason": "goal",
                "now": now,
                "order_id": order_id,
                "amount": amount_minor,
                "paid_at": paid_at,
            },
        )
    )
    await end_live(connection, [(tenant_id, row.instance_id) for row in rows])
    return len(rows)


async def merge_instances(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    survivor_id: uuid.UUID,
    merged_ids: list[uuid.UUID],
    now: datetime,
) -> None:
    """Follow the survivor (see the module), keeping one live instance per journey."""
    keys: dict[str, Any] = {"tenant": tenant_id, "survivor": survivor_id, "customers": merged_ids}
    stopped = list(
        await connection.execute(
            _STOP_DUPLICATES, {**keys, "status": "stopped", "reason": "merged", "now": now}
        )
    )
    await end_live(connection, [(tenant_id, row.instance_id) for row in stopped])
    await connection.execute(_MOVE_INSTANCES, keys)
    await connection.execute(_MOVE_ENTRIES, keys)
    await connection.execute(_MOVE_FACTS, keys)


async def erase_instances(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime
) -> None:
    """Stop the customer's live instances and forget what journeys kept of them."""
    stopped = list(
        await connection.execute(
            _STOP_CUSTOMERS,
            {
                "tenant": tenant_id,
                "customers": [customer_id],
                "status": "stopped",
                "reason": "erased",
                "now": now,
            },
        )
    )
    await end_live(connection, [(tenant_id, row.instance_id) for row in stopped])
    await connection.execute(_FORGET, {"tenant": tenant_id, "customer": customer_id})

"""The statements of a single identify, run as prepared asyncpg statements on the transaction's own
connection.

Identify is profile's hottest call. Through SQLAlchemy Core each of its statements cost about a
quarter of a millisecond of CPU (compile-cache lookup, parameter processing, the greenlet hop, a
result object); as raw statements on the same connection, inside the same transaction, asyncpg
prepares each once per connection and a call is a bind and an execute (docs/performance.md).
The first statement (the locks) goes through SQLAlchemy, which begins the transaction; the rest
join it on the same asyncpg connection. The statements say in SQL what ``customers`` and
``identities`` in ``tables`` declare.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import profile_events_pb2
from services.profile.domain.identities import MAX_IDENTITIES_PER_CALL
from services.profile.store.segment_attributes import (
    SEGMENT_ATTRIBUTES,
    SEGMENT_TEXT_ATTRIBUTES,
)
from services.runtime.database import driver_connection
from services.runtime.proto_convert import set_optional, set_time

# Through SQLAlchemy: its first statement is what opens the transaction on the asyncpg connection
# (SQLAlchemy begins lazily), and transaction-scoped locks taken before that would be let go at once.
# It also makes the transaction's statements use generic plans: a tenant too new for the table
# statistics looks empty to the planner, whose custom plan for the lookup below then walked all the
# tenant's customers (84 ms at 500 customers); the generic plan always takes the primary keys.
_LOCK = sa.text(
    "SELECT pg_advisory_xact_lock(k), set_config('plan_cache_mode', 'force_generic_plan', true) "
    "FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k"
)


def _known_sql(count: int) -> str:
    """The lookup of ``count`` (type, value hash) keys, spelled out as a list of row values.

    Spelled out, each key is an equality on the whole primary key, which the generic plan answers
    from that index (see ``_LOCK``); one statement per number of keys, prepared once each.
    """
    keys = ", ".join(f"(${2 * n + 2}, ${2 * n + 3})" for n in range(count))
    return f"""
SELECT i.type, i.value_hash, i.verified_at, c.customer_id
FROM identities i
JOIN customers c ON c.tenant_id = i.tenant_id AND c.customer_id = i.customer_id
WHERE i.tenant_id = $1 AND (i.type, i.value_hash) IN ({keys})
ORDER BY c.created_at, c.customer_id
"""  # noqa: S608 - only placeholders are formatted in


_KNOWN = {count: _known_sql(count) for count in range(1, MAX_IDENTITIES_PER_CALL + 1)}

_COLUMNS = ", ".join(SEGMENT_ATTRIBUTES)

_CREATE_BARE = f"INSERT INTO customers (tenant_id, customer_id) VALUES ($1, $2) RETURNING {_COLUMNS}"  # noqa: S608

_READ_ATTRIBUTES = f"SELECT {_COLUMNS} FROM customers WHERE tenant_id = $1 AND customer_id = $2"  # noqa: S608

_ADD_IDENTITIES = """
INSERT INTO identities (tenant_id, type, value_hash, value_enc, value_masked, customer_id)
SELECT $1, t, h, e, m, $2
FROM unnest($3::text[], $4::bytea[], $5::bytea[], $6::text[]) AS x(t, h, e, m)
ON CONFLICT DO NOTHING
"""


async def lock_keys(connection: AsyncConnection, keys: Sequence[int]) -> None:
    """Take the advisory transaction locks ``keys`` (already sorted) in one statement; the first
    statement of an identify, so it also begins the transaction the raw statements join, and sets
    the transaction's statements to generic plans (``_LOCK``)."""
    await connection.execute(_LOCK, {"keys": list(keys)})


async def known_identities(
    connection: AsyncConnection, tenant_id: uuid.UUID, keys: Sequence[tuple[str, bytes]]
) -> list[Any]:
    """The identities among ``keys`` (type, value hash) the tenant knows, with their customer,
    oldest customer first (records with ``type``, ``value_hash``, ``verified_at``, ``customer_id``)."""
    driver = await driver_connection(connection)
    sql = _KNOWN.get(len(keys)) or _known_sql(len(keys))
    return list(await driver.fetch(sql, tenant_id, *(value for key in keys for value in key)))


async def create_bare_customer(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> profile_events_pb2.SegmentAttributes:
    """Insert a customer with no attributes; answers its segment attributes (all unset, as stored)."""
    row = await (await driver_connection(connection)).fetchrow(_CREATE_BARE, tenant_id, customer_id)
    return attributes_message(row)


async def read_attributes(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> profile_events_pb2.SegmentAttributes:
    """The customer's segment attributes as they stand in this transaction (empty when no row)."""
    row = await (await driver_connection(connection)).fetchrow(_READ_ATTRIBUTES, tenant_id, customer_id)
    return attributes_message(row)


async def add_identities(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    rows: Sequence[tuple[str, bytes, bytes, str]],
) -> None:
    """Insert identities ``(type, value hash, sealed value, masked value)`` of the customer; one
    another call inserted meanwhile is left as it is (the advisory locks make that rare)."""
    if not rows:
        return
    await (await driver_connection(connection)).execute(
        _ADD_IDENTITIES,
        tenant_id,
        customer_id,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )


def attributes_message(row: Any) -> profile_events_pb2.SegmentAttributes:
    """The ``SegmentAttributes`` of a row holding the segment attribute columns (None: empty)."""
    message = profile_events_pb2.SegmentAttributes()
    if row is None:
        return message
    for name in SEGMENT_TEXT_ATTRIBUTES:
        set_optional(message, name, row[name])
    if row["birthday"] is not None:
        message.birthday = row["birthday"].isoformat()
    set_time(message, "registered_at", row["registered_at"])
    return message

"""What every write of a customer's rows (tags, consent) does first, and how its errors read.

- ``resolve_customer`` (reads) and ``hold_customer`` (writes) find the live customer an id names,
  following merges; an erased, unknown or other tenant's id is NotFound alike.
- ``advisory_lock`` serializes one kind of write to one thing for the rest of the transaction.
- ``translated_integrity_errors`` turns the database's unique and foreign-key violations into the
  domain's AlreadyExists and NotFound, so a race that only the database sees is never a 500.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from services.profile.store.merges import resolve_survivor
from services.runtime.errors import AlreadyExists, NotFound

_UNIQUE_VIOLATION = "23505"
_FOREIGN_KEY_VIOLATION = "23503"


@asynccontextmanager
async def translated_integrity_errors(conflict: str) -> AsyncIterator[None]:
    """Unique violations become AlreadyExists(conflict); a vanished parent row becomes NotFound."""
    try:
        yield
    except sa_exc.IntegrityError as error:
        state = getattr(error.orig, "sqlstate", None)
        if state == _UNIQUE_VIOLATION:
            raise AlreadyExists(conflict) from None
        if state == _FOREIGN_KEY_VIOLATION:
            raise NotFound("the tenant or customer does not exist") from None
        raise


async def resolve_customer(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> uuid.UUID:
    """For reads: the live customer an id names in this tenant (merges followed); else NotFound."""
    survivor = await resolve_survivor(connection, tenant_id, customer_id)
    if survivor is None:
        raise NotFound("customer not found")
    return survivor


async def hold_customer(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> uuid.UUID:
    """For writes: the live customer, its row locked FOR KEY SHARE until the transaction ends.

    A merge or an erasure locks the row FOR UPDATE, so it waits for this write and then carries its
    rows along (or erases them); a merge that won the race is seen here and followed to the survivor.
    KEY SHARE does not block ordinary attribute updates of the customer.
    """
    survivor = await resolve_survivor(connection, tenant_id, customer_id, lock="key_share")
    if survivor is None:
        raise NotFound("customer not found")
    return survivor


async def advisory_lock(connection: AsyncConnection, scope: str, *ids: uuid.UUID) -> None:
    """Serialize one kind of write (``scope``) to one thing (``ids``) until the transaction ends."""
    digest = hashlib.sha256(scope.encode() + b"".join(i.bytes for i in ids)).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

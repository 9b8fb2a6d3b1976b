"""Programme versions per tenant: the current one, any earlier one, and storing a new one.

Versions are immutable once stored, so each is decoded once per process and kept (a bounded cache
keyed by tenant and version); only "which version is current" is asked of the database each time.
"""

from __future__ import annotations

import json
import time
import uuid
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.program import Program, TenantProgram, default_program
from services.loyalty.domain.program_document import program_from_document, program_to_document
from services.loyalty.store.ledger_tables import programs
from services.loyalty.store.tables import tenants
from services.runtime.database import Database
from services.runtime.errors import NotFound
from services.runtime.tenant_store import tenant_from_row

_CURRENT = sa.text(
    """
    SELECT t.*, p.version AS program_version, p.document AS program_document
    FROM tenants AS t
    LEFT JOIN LATERAL (
        SELECT version, document FROM loyalty_programs
        WHERE tenant_id = t.tenant_id ORDER BY version DESC LIMIT 1
    ) AS p ON true
    WHERE t.tenant_id = :tenant_id
    """
)


@lru_cache(maxsize=4096)
def _decoded(tenant_id: uuid.UUID, version: int, document: str) -> Program:
    return program_from_document(version, json.loads(document))


def _program(tenant_id: uuid.UUID, currency: str, version: int | None, document: Any) -> Program:
    if version is None:
        return default_program(currency)
    return _decoded(tenant_id, version, json.dumps(document, sort_keys=True))


async def tenant_program(connection: AsyncConnection, tenant_id: uuid.UUID) -> TenantProgram:
    """The tenant's settings and current programme (the default, version 0, until one is stored)."""
    row = (await connection.execute(_CURRENT, {"tenant_id": tenant_id})).first()
    if row is None:
        raise NotFound("this tenant is not provisioned in the loyalty service")
    tenant = tenant_from_row(row)
    return TenantProgram(
        tenant, _program(tenant_id, tenant.currency, row.program_version, row.program_document)
    )


async def current_program(connection: AsyncConnection, tenant_id: uuid.UUID) -> Program:
    """The programme the tenant runs now (the default, version 0, when it never stored one)."""
    return (await tenant_program(connection, tenant_id)).program


async def program_version(connection: AsyncConnection, tenant_id: uuid.UUID, version: int) -> Program:
    """A given version of the tenant's programme (0 is the default); NotFound when never stored."""
    if version == 0:
        currency = (
            await connection.execute(sa.select(tenants.c.currency).where(tenants.c.tenant_id == tenant_id))
        ).scalar_one_or_none()
        if currency is None:
            raise NotFound("this tenant is not provisioned in the loyalty service")
        return default_program(currency.strip())
    document = (
        await connection.execute(
            sa.select(programs.c.document).where(
                programs.c.tenant_id == tenant_id, programs.c.version == version
            )
        )
    ).scalar_one_or_none()
    if document is None:
        raise NotFound(f"programme version {version} does not exist")
    return _program(tenant_id, "", version, document)


async def store_program(connection: AsyncConnection, tenant_id: uuid.UUID, program: Program) -> Program:
    """Store a validated ``program`` as the tenant's next version; returns it with that version.

    The tenant row is locked so that two concurrent PUTs get consecutive versions, never the same.
    """
    locked = (
        await connection.execute(
            sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id).with_for_update()
        )
    ).scalar_one_or_none()
    if locked is None:
        raise NotFound("this tenant is not provisioned in the loyalty service")
    latest = (
        await connection.execute(
            sa.select(sa.func.coalesce(sa.func.max(programs.c.version), 0)).where(
                programs.c.tenant_id == tenant_id
            )
        )
    ).scalar_one()
    version = int(latest) + 1
    await connection.execute(
        sa.insert(programs).values(
            tenant_id=tenant_id, version=version, document=program_to_document(program)
        )
    )
    return _program(tenant_id, "", version, program_to_document(program))


PROGRAM_CACHE_SECONDS = 30.0


class ProgramCache:
    """Each tenant's settings and current programme, kept in this process for the hot paths.

    An entry is reused for at most ``ttl_seconds``. Movements that use it pass its version to the
    statement that books them, which answers ``stale`` when the tenant stored a newer programme
    (on any replica), so a stale programme never books anything; the tenant's own settings (time
    zone, currency) may be up to ``ttl_seconds`` old.
    """

    def __init__(self, ttl_seconds: float = PROGRAM_CACHE_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[uuid.UUID, tuple[float, TenantProgram]] = {}

    async def get(self, database: Database, tenant_id: uuid.UUID) -> TenantProgram:
        """The tenant's programme from the cache, read (one statement) when absent or too old."""
        cached = self._entries.get(tenant_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        async with database.read() as connection:
            context = await tenant_program(connection, tenant_id)
        self._entries[tenant_id] = (now, context)
        return context

    def invalidate(self, tenant_id: uuid.UUID) -> None:
        """Forget the tenant's entry (its programme changed)."""
        self._entries.pop(tenant_id, None)


class SqlProgramStore:
    """Implements ``services.loyalty.domain.program_desk.ProgramStore`` on the loyalty database."""

    def __init__(self, database: Database, cache: ProgramCache) -> None:
        self._database = database
        self._cache = cache

    async def current(self, tenant_id: uuid.UUID) -> Program:
        async with self._database.read() as connection:
            return await current_program(connection, tenant_id)

    async def version(self, tenant_id: uuid.UUID, version: int) -> Program:
        async with self._database.read() as connection:
            return await program_version(connection, tenant_id, version)

    async def store(self, tenant_id: uuid.UUID, program: Program) -> Program:
        """Store the next version; this process's cached copy goes at once (other replicas': the
        version check, see ``ProgramCache``)."""
        async with self._database.transaction() as connection:
            stored = await store_program(connection, tenant_id, program)
        self._cache.invalidate(tenant_id)
        return stored

"""Tenant registry queries: tenants and the SHA-256 of their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.profile.domain.api_keys import SCOPES, ResolvedKey
from services.profile.store.tables import api_keys, tenants
from services.runtime.database import Database
from services.runtime.errors import AlreadyExists
from services.runtime.tenancy import Tenant
from services.runtime.tenant_store import load_tenant, tenant_from_row

# A tenant's first key holds every scope (API.md "Access"), ``audit`` included.
DEFAULT_SCOPES = list(SCOPES)


class SqlTenantStore:
    """Implements ``TenantStore`` on the profile database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, tenant: Tenant, key_sha256: bytes, key_prefix: str) -> datetime:
        """Insert the tenant and its first key in one transaction; an existing tenant id is a conflict."""
        async with self._database.transaction() as connection:
            created_at = (
                await connection.execute(
                    pg.insert(tenants)
                    .values(
                        tenant_id=tenant.tenant_id,
                        name=tenant.name,
                        timezone=tenant.timezone,
                        currency=tenant.currency,
                        default_region=tenant.default_region,
                    )
                    .on_conflict_do_nothing(index_elements=[tenants.c.tenant_id])
                    .returning(tenants.c.created_at)
                )
            ).scalar_one_or_none()
            if created_at is None:
                raise AlreadyExists(f"tenant {tenant.tenant_id} already exists")
            await connection.execute(
                sa.insert(api_keys).values(
                    key_sha256=key_sha256,
                    tenant_id=tenant.tenant_id,
                    prefix=key_prefix,
                    scopes=DEFAULT_SCOPES,
                    name="first key",
                )
            )
        return created_at  # type: ignore[no-any-return]

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        async with self._database.read() as connection:
            return await load_tenant(connection, tenants, tenant_id)

    async def resolve_key(self, key_sha256: bytes) -> tuple[Tenant, ResolvedKey] | None:
        query = (
            sa.select(tenants, api_keys.c.scopes, api_keys.c.key_id, api_keys.c.last_used_at)
            .join(api_keys, api_keys.c.tenant_id == tenants.c.tenant_id)
            .where(
                api_keys.c.key_sha256 == key_sha256,
                api_keys.c.revoked_at.is_(None),
                sa.or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > sa.func.now()),
            )
        )
        async with self._database.read() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        return tenant_from_row(row), ResolvedKey(row.key_id, list(row.scopes), row.last_used_at)

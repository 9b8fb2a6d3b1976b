"""A tenant's API keys on the profile database (only their SHA-256 is kept)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from services.profile.domain.api_keys import ApiKey, NewKey
from services.profile.store.tables import api_keys
from services.runtime.database import Database
from services.runtime.errors import AlreadyExists

k = api_keys.c
_COLUMNS = (
    k.key_id,
    k.name,
    k.prefix,
    k.scopes,
    k.created_at,
    k.expires_at,
    k.last_used_at,
    k.revoked_at,
    k.rolled_from,
)


def _key(row: Any) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        prefix=row.prefix,
        scopes=list(row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        rolled_from=row.rolled_from,
    )


class SqlApiKeyStore:
    """Implements ``ApiKeyStore``; every statement is bound to the tenant."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def issue(self, tenant_id: uuid.UUID, key: NewKey) -> ApiKey | None:
        """Insert the key; None when the tenant does not exist (the foreign key refuses it)."""
        statement = (
            sa.insert(api_keys)
            .values(
                key_sha256=key.key_hash,
                tenant_id=tenant_id,
                prefix=key.prefix,
                name=key.name,
                scopes=key.scopes,
                expires_at=key.expires_at,
            )
            .returning(*_COLUMNS)
        )
        try:
            async with self._database.transaction() as connection:
                row = (await connection.execute(statement)).one()
        except IntegrityError as error:
            if "api_keys_tenant_id_fkey" in str(error.orig):
                return None
            raise AlreadyExists("an API key with this hash already exists") from None
        return _key(row)

    async def list(self, tenant_id: uuid.UUID) -> list[ApiKey]:
        query = (
            sa.select(*_COLUMNS)
            .where(k.tenant_id == tenant_id)
            .order_by(k.created_at.desc(), k.key_id.desc())
        )
        async with self._database.read() as connection:
            return [_key(row) for row in await connection.execute(query)]

    async def revoke(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
        statement = (
            sa.update(api_keys)
            .where(k.tenant_id == tenant_id, k.key_id == key_id)
            .values(revoked_at=sa.func.coalesce(k.revoked_at, sa.func.now()))
            .returning(*_COLUMNS)
        )
        async with self._database.transaction() as connection:
            row = (await connection.execute(statement)).first()
        return None if row is None else _key(row)

    async def roll(
        self, tenant_id: uuid.UUID, key_id: uuid.UUID, key_hash: bytes, prefix: str, overlap: timedelta
    ) -> tuple[ApiKey, ApiKey] | None:
        """In one transaction: lock the old key (valid only), add the new one like it, and cut the old
        one's expiry to now + overlap (an earlier expiry stays)."""
        async with self._database.transaction() as connection:
            old = (
                await connection.execute(
                    sa.select(*_COLUMNS)
                    .where(
                        k.tenant_id == tenant_id,
                        k.key_id == key_id,
                        k.revoked_at.is_(None),
                        sa.or_(k.expires_at.is_(None), k.expires_at > sa.func.now()),
                    )
                    .with_for_update()
                )
            ).first()
            if old is None:
                return None
            new = (
                await connection.execute(
                    sa.insert(api_keys)
                    .values(
                        key_sha256=key_hash,
                        tenant_id=tenant_id,
                        prefix=prefix,
                        name=old.name,
                        scopes=old.scopes,
                        expires_at=old.expires_at,
                        rolled_from=old.key_id,
                    )
                    .returning(*_COLUMNS)
                )
            ).one()
            until = sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, overlap.total_seconds())
            replaced = (
                await connection.execute(
                    sa.update(api_keys)
                    .where(k.tenant_id == tenant_id, k.key_id == key_id)
                    .values(expires_at=sa.func.least(sa.func.coalesce(k.expires_at, until), until))
                    .returning(*_COLUMNS)
                )
            ).one()
        return _key(new), _key(replaced)

    async def touch(self, tenant_id: uuid.UUID, key_id: uuid.UUID, stale_before: datetime) -> None:
        """Set the key's last use to now, unless another call did within the minute."""
        statement = (
            sa.update(api_keys)
            .where(
                k.tenant_id == tenant_id,
                k.key_id == key_id,
                sa.or_(k.last_used_at.is_(None), k.last_used_at < stale_before),
            )
            .values(last_used_at=sa.func.now())
        )
        async with self._database.transaction() as connection:
            await connection.execute(statement)

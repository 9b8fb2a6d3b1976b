"""A tenant's channels and policy: one row each, secrets sealed (``sealing.py``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from services.notify.store.sealing import Sealer
from services.runtime.database import Database

_PUT_CHANNEL = sa.text(
    """
    INSERT INTO channels (tenant_id, channel, provider, settings, sealed_secrets, enabled, updated_at)
    VALUES (:tenant, :channel, :provider, CAST(:settings AS jsonb), :sealed, :enabled, now())
    ON CONFLICT (tenant_id, channel) DO UPDATE
      SET provider = EXCLUDED.provider, settings = EXCLUDED.settings,
          sealed_secrets = EXCLUDED.sealed_secrets, enabled = EXCLUDED.enabled, updated_at = now()
    RETURNING *
    """
)
_GET_CHANNEL = sa.text("SELECT * FROM channels WHERE tenant_id = :tenant AND channel = :channel")
_LIST_CHANNELS = sa.text("SELECT * FROM channels WHERE tenant_id = :tenant ORDER BY channel")
_GET_POLICY = sa.text("SELECT document, updated_at FROM policies WHERE tenant_id = :tenant")
_PUT_POLICY = sa.text(
    """
    INSERT INTO policies (tenant_id, document, updated_at) VALUES (:tenant, CAST(:document AS jsonb), now())
    ON CONFLICT (tenant_id) DO UPDATE SET document = EXCLUDED.document, updated_at = now()
    RETURNING document, updated_at
    """
)


@dataclass(frozen=True)
class StoredChannel:
    """A channel row with its secrets opened (held in memory only)."""

    tenant_id: uuid.UUID
    channel: str
    provider: str
    settings: dict[str, Any]
    secrets: dict[str, str]
    enabled: bool
    updated_at: datetime


class SqlChannelStore:
    """Channels and the policy of a tenant."""

    def __init__(self, database: Database, sealer: Sealer) -> None:
        self._database = database
        self._sealer = sealer

    def _stored(self, row: Any) -> StoredChannel:
        secrets = self._sealer.open(row.tenant_id, f"channel:{row.channel}", row.sealed_secrets)
        return StoredChannel(
            row.tenant_id, row.channel, row.provider, dict(row.settings), secrets, row.enabled, row.updated_at
        )

    async def put(
        self,
        tenant_id: uuid.UUID,
        channel: str,
        provider: str,
        settings: Mapping[str, Any],
        secrets: Mapping[str, str],
        enabled: bool,
    ) -> StoredChannel:
        """Replace the channel's configuration; its secrets are sealed before they are written."""
        sealed = self._sealer.seal(tenant_id, f"channel:{channel}", secrets) if secrets else None
        async with self._database.transaction() as connection:
            row = (
                await connection.execute(
                    _PUT_CHANNEL,
                    {
                        "tenant": tenant_id,
                        "channel": channel,
                        "provider": provider,
                        "settings": json.dumps(dict(settings)),
                        "sealed": sealed,
                        "enabled": enabled,
                    },
                )
            ).one()
        return self._stored(row)

    async def get(self, tenant_id: uuid.UUID, channel: str) -> StoredChannel | None:
        """The channel, secrets opened; None when never configured."""
        async with self._database.read() as connection:
            row = (await connection.execute(_GET_CHANNEL, {"tenant": tenant_id, "channel": channel})).first()
        return None if row is None else self._stored(row)

    async def all(self, tenant_id: uuid.UUID) -> list[StoredChannel]:
        """Every configured channel of the tenant."""
        async with self._database.read() as connection:
            rows = list(await connection.execute(_LIST_CHANNELS, {"tenant": tenant_id}))
        return [self._stored(row) for row in rows]

    async def policy(self, tenant_id: uuid.UUID) -> tuple[dict[str, Any] | None, datetime | None]:
        """The policy document (None: never set, the defaults apply) and when it changed."""
        async with self._database.read() as connection:
            row = (await connection.execute(_GET_POLICY, {"tenant": tenant_id})).first()
        return (None, None) if row is None else (dict(row.document), row.updated_at)

    async def put_policy(self, tenant_id: uuid.UUID, document: Mapping[str, Any]) -> datetime:
        """Replace the policy document (already checked by the domain)."""
        async with self._database.transaction() as connection:
            row = (
                await connection.execute(
                    _PUT_POLICY, {"tenant": tenant_id, "document": json.dumps(dict(document))}
                )
            ).one()
        updated: datetime = row.updated_at
        return updated

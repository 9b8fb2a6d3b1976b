"""A tenant's settings as scoring's use cases read them: configuration, time zone, daily schedule.

Each method opens its own transaction (or read) on the scoring database.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from services.runtime.database import Database
from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.run_schedule import TenantSchedule
from services.scoring.store.config import load_config, load_configs, save_config
from services.scoring.store.rescoring import tenant_timezone
from services.scoring.store.tables import tenants


class SqlTenantSettings:
    """``scoring_config`` and the tenants provisioned to scoring."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def load(self, tenant_id: uuid.UUID) -> ScoringConfig:
        """The tenant's configuration (the defaults when never set)."""
        async with self._database.read() as connection:
            return await load_config(connection, tenant_id)

    async def save(self, tenant_id: uuid.UUID, config: ScoringConfig) -> None:
        """Replace the tenant's configuration."""
        async with self._database.transaction() as connection:
            await save_config(connection, tenant_id, config)

    async def timezone(self, tenant_id: uuid.UUID) -> str:
        """The tenant's time zone as provisioned to scoring."""
        async with self._database.read() as connection:
            return await tenant_timezone(connection, tenant_id)

    async def schedules(self) -> list[TenantSchedule]:
        """Every tenant's time zone, configuration and creation time, in one read of two queries."""
        async with self._database.read() as connection:
            rows = (
                await connection.execute(
                    sa.select(tenants.c.tenant_id, tenants.c.timezone, tenants.c.created_at)
                )
            ).all()
            configs = await load_configs(connection, [tenant for tenant, _, _ in rows])
        return [(tenant, zone, configs[tenant], created) for tenant, zone, created in rows]

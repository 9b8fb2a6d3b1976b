"""A tenant's scoring configuration in the scoring database (one JSON document per tenant)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.domain.config import ScoringConfig, config_to_document, parse_config
from services.scoring.store.feature_tables import scoring_config


async def load_config(connection: AsyncConnection, tenant_id: uuid.UUID) -> ScoringConfig:
    """The tenant's configuration; the defaults when the operator never set one."""
    document = (
        await connection.execute(
            sa.select(scoring_config.c.document).where(scoring_config.c.tenant_id == tenant_id)
        )
    ).scalar_one_or_none()
    return ScoringConfig() if document is None else parse_config(document)


async def load_configs(
    connection: AsyncConnection, tenant_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ScoringConfig]:
    """Each tenant's configuration in one query (the defaults for those who never set one)."""
    rows = await connection.execute(
        sa.select(scoring_config.c.tenant_id, scoring_config.c.document).where(
            scoring_config.c.tenant_id.in_(list(tenant_ids))
        )
    )
    documents = {tenant_id: document for tenant_id, document in rows}
    return {
        tenant_id: parse_config(documents[tenant_id]) if tenant_id in documents else ScoringConfig()
        for tenant_id in tenant_ids
    }


async def save_config(connection: AsyncConnection, tenant_id: uuid.UUID, config: ScoringConfig) -> None:
    """Store a validated configuration, replacing the tenant's previous one."""
    document = config_to_document(config)
    statement = pg.insert(scoring_config).values(tenant_id=tenant_id, document=document)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[scoring_config.c.tenant_id],
            set_={"document": statement.excluded.document, "updated_at": sa.func.now()},
        )
    )

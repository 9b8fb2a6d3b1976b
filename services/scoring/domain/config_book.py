"""The tenant's scoring configuration as the API reads and replaces it.

The store is a protocol so that these rules never see SQL; ``store.config`` implements it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from services.scoring.domain.config import ScoringConfig, parse_config


class ConfigStore(Protocol):
    async def load(self, tenant_id: uuid.UUID) -> ScoringConfig: ...
    async def save(self, tenant_id: uuid.UUID, config: ScoringConfig) -> None: ...


class ConfigBook:
    """Reads and validates-then-replaces a tenant's configuration."""

    def __init__(self, store: ConfigStore) -> None:
        self._store = store

    async def get(self, tenant_id: uuid.UUID) -> ScoringConfig:
        """The tenant's configuration (the defaults when the operator never set one)."""
        return await self._store.load(tenant_id)

    async def put(self, tenant_id: uuid.UUID, document: Mapping[str, Any]) -> ScoringConfig:
        """Validate the whole document (every fault named) and make it the tenant's configuration."""
        config = parse_config(document)
        await self._store.save(tenant_id, config)
        return config

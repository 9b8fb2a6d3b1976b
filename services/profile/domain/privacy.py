"""A customer's rights over their data: a whole copy (export) and erasure everywhere."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from services.profile.domain.directory import parse_customer_id
from services.runtime.errors import NotFound
from services.runtime.privacy import ErasureStatus


class PrivacyStore(Protocol):
    async def erase(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> tuple[uuid.UUID, datetime] | None: ...

    async def export(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> dict[str, Any] | None: ...

    async def erasure(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> tuple[uuid.UUID, datetime] | None: ...


class CustomerPrivacy:
    """Erasure is final and idempotent: a second request answers the first one's time and emits nothing."""

    def __init__(self, store: PrivacyStore) -> None:
        self._store = store

    async def erase(self, tenant_id: uuid.UUID, customer_id: str) -> tuple[uuid.UUID, datetime]:
        erased = await self._store.erase(tenant_id, parse_customer_id(customer_id))
        if erased is None:
            raise NotFound("customer not found")
        return erased

    async def export(self, tenant_id: uuid.UUID, customer_id: str) -> dict[str, Any]:
        exported = await self._store.export(tenant_id, parse_customer_id(customer_id))
        if exported is None:
            raise NotFound("customer not found")
        return exported

    async def export_customer(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, merged_ids: Sequence[uuid.UUID]
    ) -> dict[str, Any]:
        """Profile's part of the whole export (``runtime.privacy.PrivacyPort``): profile knows the
        person's merges itself, so ``merged_ids`` (the others' input) is not needed here."""
        return await self.export(tenant_id, str(customer_id))

    async def erasure_status(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> ErasureStatus:
        """Profile's erasure is the request itself: done when it was made. A customer unknown in the
        tenant, or never erased, is not found (``GET .../erasure`` answers 404)."""
        erased = await self._store.erasure(tenant_id, customer_id)
        if erased is None:
            raise NotFound("customer not found or not erased")
        return ErasureStatus(erased[0], erased[1])

"""The programme use cases: read the current or an earlier version, store a new one.

The store is a protocol so that these rules never see SQL; ``services.loyalty.store.programs``
implements it (and forgets its cached copy of a programme once a new version is stored).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from services.loyalty.domain.program import Program, validate_program


class ProgramStore(Protocol):
    async def current(self, tenant_id: uuid.UUID) -> Program: ...

    async def version(self, tenant_id: uuid.UUID, version: int) -> Program: ...

    async def store(self, tenant_id: uuid.UUID, program: Program) -> Program:
        """Keep ``program`` as the tenant's next version; returns it with that version."""
        ...


class ProgramDesk:
    """A tenant's loyalty programme and its versions."""

    def __init__(self, store: ProgramStore) -> None:
        self._store = store

    async def program(self, tenant_id: uuid.UUID, version: int | None) -> Program:
        """The given version (0 is the default programme), or the current one when None."""
        if version is None:
            return await self._store.current(tenant_id)
        return await self._store.version(tenant_id, version)

    async def put(self, tenant_id: uuid.UUID, program: Program) -> Program:
        """Store a programme once its rules hold, as the tenant's next version."""
        return await self._store.store(tenant_id, validate_program(program))

"""A service's part of a customer's export read from its own tables, and its erasure status.

Each service names its sections as queries (``:tenant`` and ``:customers``, the customer and those
merged into it); they run in one REPEATABLE READ snapshot, so a balance and the ledger that sums to it
agree, each list read up to ``MAX_EXPORT_ROWS`` + 1 through a cursor (more is refused, never cut:
``privacy.bounded``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from services.runtime.database import Database
from services.runtime.events.erasure import erasure_done_at
from services.runtime.privacy import MAX_EXPORT_ROWS, ErasureStatus, bounded


class SectionExport:
    """:class:`services.runtime.privacy.PrivacyPort` over named queries of one service's database."""

    def __init__(
        self,
        service: str,
        database: Database,
        erasures: sa.Table,
        *,
        lists: Mapping[str, sa.TextClause],
        objects: Mapping[str, sa.TextClause] | None = None,
    ) -> None:
        self._service = service
        self._database = database
        self._erasures = erasures
        self._lists = dict(lists)
        self._objects = dict(objects or {})

    async def export_customer(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, merged_ids: Sequence[uuid.UUID]
    ) -> dict[str, Any]:
        """Every section, in the order declared (objects first): a customer this service never heard
        of has empty sections, not an error (profile decides whether the customer exists)."""
        params = {"tenant": tenant_id, "customers": [customer_id, *merged_ids]}
        exported: dict[str, Any] = {}
        async with self._database.read() as connection:
            await connection.execution_options(isolation_level="REPEATABLE READ")
            for name, query in self._objects.items():
                row = (await connection.execute(query, params)).mappings().first()
                exported[name] = dict(row) if row is not None else None
            for name, query in self._lists.items():
                result = await connection.stream(query, params)
                try:
                    rows = await result.mappings().fetchmany(MAX_EXPORT_ROWS + 1)
                finally:
                    await result.close()
                exported[name] = bounded(self._service, name, [dict(row) for row in rows])
        return exported

    async def erasure_status(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> ErasureStatus:
        """Done once this service handled the customer.erased event (``customer_erasures``)."""
        async with self._database.read() as connection:
            at = await erasure_done_at(connection, self._erasures, tenant_id, customer_id)
        return ErasureStatus(customer_id, at)

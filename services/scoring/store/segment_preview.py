"""The store side of segment previews: the compiled condition counted and sampled in one statement.

Implements ``SegmentPreviewStore`` (``domain/segments/preview.py``). One statement answers both the
exact count and the first ids in id order from one materialized set, so the two always agree; it
runs read-only under its own ``statement_timeout`` so a heavy condition answers UNAVAILABLE instead
of holding a connection for the service's whole 10 s cap, with the planner settings of
``PREVIEW_SETTINGS``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.database import Database
from services.runtime.errors import NotFound, Unavailable
from services.scoring.domain.segments.tree import Condition
from services.scoring.store.segment_sql import segment_members
from services.scoring.store.segment_zones import known_zones, valid_zone
from services.scoring.store.tables import tenants

PREVIEW_TIMEOUT_MS = 5_000
"""The longest a preview may run: ten times the 500 ms target on a million customers."""

PREVIEW_SETTINGS: tuple[tuple[str, str], ...] = (
    # JIT compiled every preview's expressions anew: 40-270 ms of a 0.3-1 s statement, never repaid.
    ("jit", "off"),
    # the hashes of a preview (up to a tenant's million ids) fit in memory instead of batching to disk
    ("work_mem", "64MB"),
    # the audience tables and their indexes are read from memory: an index page costs about what a
    # sequential one does, so index-only scans of the live customers are costed as what they are
    ("random_page_cost", "1.1"),
    # a preview keeps every member (the count needs them all): handing its rows from parallel
    # workers to the leader is cheap beside probing a million live customers on one core
    # (any of five tags: 215 → 140 ms with a second core free)
    ("parallel_tuple_cost", "0.01"),
)
"""Planner settings of the preview's transaction only (``set_config(…, true)``); docs/segments.md."""


def preview_statement(members: sa.Select[uuid.UUID], sample_size: int) -> sa.Select[Any]:
    """The exact count and the first ``sample_size`` ids (in id order) of ``members``, one statement:
    ``SELECT id, (SELECT count(*) FROM members) FROM (… ORDER BY id LIMIT n)`` — no row when there
    is no member (the count is then 0).

    MATERIALIZED: as a plain subquery under ``ORDER BY … LIMIT`` the planner takes the limit to stop
    early and walks every customer in id order probing each fact, although the count needs them all
    (bench/segments.py: 600 → 220 ms, 3.4 → 1.9 s on 1 M customers). The count is a scalar subquery
    over the materialized rows rather than ``count(*) OVER ()``, which copied every row once more
    into a window buffer (≈ 25 ms of 117 k members)."""
    cte = members.cte("members").prefix_with("MATERIALIZED")
    total = sa.select(sa.func.count()).select_from(cte).scalar_subquery()
    sample = sa.select(cte.c.customer_id).order_by(cte.c.customer_id).limit(max(sample_size, 1)).subquery()
    return sa.select(sample.c.customer_id, total.label("total")).order_by(sample.c.customer_id)


class SqlSegmentStore:
    """Segment queries over scoring's audience tables."""

    def __init__(self, database: Database, timeout_ms: int = PREVIEW_TIMEOUT_MS) -> None:
        self._database = database
        self._timeout_ms = timeout_ms

    async def preview(
        self, tenant_id: uuid.UUID, condition: Condition, now: datetime, sample_size: int
    ) -> tuple[int, tuple[uuid.UUID, ...]]:
        """The number of the tenant's live customers meeting ``condition`` at ``now`` and the first
        ``sample_size`` of their ids; NotFound when scoring does not know the tenant."""
        async with self._database.transaction() as connection:
            statement = await self.prepare(connection, tenant_id, condition, now, sample_size)
            try:
                rows = (await connection.execute(statement)).all()
            except sa_exc.DBAPIError as error:
                if getattr(error.orig, "sqlstate", None) == "57014":
                    raise Unavailable(
                        f"the segment preview took longer than {self._timeout_ms} ms; narrow the condition"
                    ) from error
                raise
        count = int(rows[0].total) if rows else 0
        return count, tuple(row.customer_id for row in rows[:sample_size])

    async def prepare(
        self,
        connection: AsyncConnection,
        tenant_id: uuid.UUID,
        condition: Condition,
        now: datetime,
        sample_size: int,
    ) -> sa.Select[Any]:
        """Make ``connection``'s transaction a preview's (read only, its timeout and planner settings)
        and build its statement; NotFound for a tenant scoring does not know. The benchmark explains
        the statement this returns."""
        await connection.execute(sa.text("SET TRANSACTION READ ONLY"))
        zone = (
            await connection.execute(sa.select(tenants.c.timezone).where(tenants.c.tenant_id == tenant_id))
        ).scalar_one_or_none()
        if zone is None:
            raise NotFound("tenant not known to scoring")
        zones = await known_zones(connection)
        settings = [("statement_timeout", str(self._timeout_ms)), *PREVIEW_SETTINGS]
        await connection.execute(
            sa.select(*(sa.func.set_config(name, value, True) for name, value in settings))
        )
        members = segment_members(condition, tenant_id, now, valid_zone(zone), zones)
        return preview_statement(members, sample_size)

"""The store side of segment exports for the API: start (the snapshot), status, and the file's pages.

Implements ``SegmentExportStore`` (``domain/segments/exports.py``). The snapshot is one ``INSERT …
SELECT`` from ``segment_members`` that also reads the segment's version, so the members and the
version come from one snapshot of the database; the tenant's exports start one at a time (an
advisory lock per tenant), so two concurrent starts cannot both pass the limit of active exports.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from services.runtime.database import Database
from services.runtime.errors import Conflict, NotFound
from services.scoring.domain.segments.export_csv import ExportRow
from services.scoring.domain.segments.exports import SegmentExport
from services.scoring.store.segment_export_tables import segment_exports
from services.scoring.store.segment_tables import segments

SNAPSHOT_TIMEOUT_MS = 30_000
"""The snapshot's own statement time limit: the service's default is 10 s, and the largest snapshot
(``SNAPSHOT_LIMIT``, 2 M members) takes ~6 s on an idle server."""

_LOCK_TENANT = sa.text("SELECT pg_advisory_xact_lock(hashtextextended('segment-exports:' || :tenant, 0))")

_ACTIVE = sa.text(
    "SELECT count(*) FROM segment_exports WHERE tenant_id = :tenant AND status IN ('queued', 'running')"
)

_SEGMENT = sa.text(
    """
    SELECT version, (SELECT count(*) FROM segment_members m
                     WHERE m.tenant_id = :tenant AND m.segment_id = :segment) AS members
    FROM segments WHERE tenant_id = :tenant AND segment_id = :segment AND deleted_at IS NULL
    """
)

# One statement, one snapshot: the version read beside the members copied, numbered in id order.
_SNAPSHOT = sa.text(
    """
    WITH segment AS (
        SELECT version FROM segments
        WHERE tenant_id = :tenant AND segment_id = :segment AND deleted_at IS NULL
    ), copied AS (
        INSERT INTO segment_export_rows (tenant_id, export_id, seq, customer_id, entered_at)
        SELECT m.tenant_id, :export, row_number() OVER (ORDER BY m.customer_id), m.customer_id, m.entered_at
        FROM segment_members AS m
        WHERE m.tenant_id = :tenant AND m.segment_id = :segment AND EXISTS (SELECT FROM segment)
        RETURNING 1
    )
    SELECT (SELECT version FROM segment) AS version, (SELECT count(*) FROM copied) AS total
    """
)

# Members known to scoring as erased never appear in a file, even one written before the erasure.
_ROWS = sa.text(
    """
    SELECT r.seq, r.customer_id, r.entered_at, r.phone, r.email
    FROM segment_export_rows AS r
    WHERE r.tenant_id = :tenant AND r.export_id = :export AND r.seq > :after
      AND NOT EXISTS (
          SELECT FROM customers AS c
          WHERE c.tenant_id = r.tenant_id AND c.customer_id = r.customer_id AND c.erased_at IS NOT NULL
      )
    ORDER BY r.seq
    LIMIT :limit
    """
)


def export_of(row: Any) -> SegmentExport:
    """A ``segment_exports`` row as the domain's value."""
    return SegmentExport(
        export_id=row.export_id,
        segment_id=row.segment_id,
        segment_version=row.segment_version,
        status=row.status,
        done=row.done,
        total=row.total,
        rows=row.rows,
        created_at=row.created_at,
        finished_at=row.finished_at,
        expires_at=row.expires_at,
        error=row.error,
    )


def _live_export(tenant_id: uuid.UUID, segment_id: uuid.UUID, export_id: uuid.UUID) -> sa.Select[Any]:
    """The export of a live segment of the tenant (a deleted segment's exports are gone with it)."""
    return (
        sa.select(segment_exports)
        .join(
            segments,
            sa.and_(
                segments.c.tenant_id == segment_exports.c.tenant_id,
                segments.c.segment_id == segment_exports.c.segment_id,
            ),
        )
        .where(
            segment_exports.c.tenant_id == tenant_id,
            segment_exports.c.export_id == export_id,
            segment_exports.c.segment_id == segment_id,
            segments.c.deleted_at.is_(None),
        )
    )


class SqlSegmentExports:
    """Export records and snapshot rows in scoring's database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def start(
        self,
        tenant_id: uuid.UUID,
        segment_id: uuid.UUID,
        export_id: uuid.UUID,
        now: datetime,
        file_expires_at: datetime,
        max_active: int,
        max_members: int,
    ) -> SegmentExport | int:
        """Snapshot the segment into a new export; the active count when the limit is reached."""
        params = {"tenant": tenant_id, "segment": segment_id, "export": export_id}
        async with self._database.transaction() as connection:
            await connection.execute(_LOCK_TENANT, {"tenant": str(tenant_id)})
            segment = (await connection.execute(_SEGMENT, params)).first()
            if segment is None:
                raise NotFound(f"segment {str(segment_id)!r} not found")
            active = int((await connection.execute(_ACTIVE, params)).scalar_one())
            if active >= max_active:
                return active
            if segment.members > max_members:
                raise Conflict(
                    f"the segment has {segment.members} members; an export takes at most {max_members}",
                    reason="EXPORT_TOO_LARGE",
                )
            await connection.execute(
                sa.select(sa.func.set_config("statement_timeout", str(SNAPSHOT_TIMEOUT_MS), True))
            )
            snapshot = (await connection.execute(_SNAPSHOT, params)).one()
            if snapshot.version is None:  # deleted since it was read above
                raise NotFound(f"segment {str(segment_id)!r} not found")
            empty = snapshot.total == 0
            row = (
                await connection.execute(
                    sa.insert(segment_exports)
                    .values(
                        tenant_id=tenant_id,
                        export_id=export_id,
                        segment_id=segment_id,
                        segment_version=snapshot.version,
                        status="done" if empty else "queued",
                        total=snapshot.total,
                        done=0,
                        rows=0,
                        attempts=0,
                        created_at=now,
                        finished_at=now if empty else None,
                        expires_at=file_expires_at if empty else None,
                    )
                    .returning(segment_exports)
                )
            ).one()
        return export_of(row)

    async def get(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, export_id: uuid.UUID
    ) -> SegmentExport | None:
        """The export of that live segment of the tenant, or None."""
        async with self._database.read() as connection:
            row = (await connection.execute(_live_export(tenant_id, segment_id, export_id))).first()
        return None if row is None else export_of(row)

    async def page(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, export_id: uuid.UUID, after_seq: int, limit: int
    ) -> tuple[SegmentExport | None, list[ExportRow]]:
        """The export and its next rows from one snapshot (REPEATABLE READ): a record read as done
        guarantees its rows are all there, even while a prune deletes them."""
        async with self._database.transaction() as connection:
            await connection.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            row = (await connection.execute(_live_export(tenant_id, segment_id, export_id))).first()
            if row is None or row.status != "done":
                return (None if row is None else export_of(row)), []
            rows = await connection.execute(
                _ROWS, {"tenant": tenant_id, "export": export_id, "after": after_seq, "limit": limit}
            )
            return export_of(row), [
                ExportRow(r.seq, r.customer_id, r.entered_at, r.phone, r.email) for r in rows
            ]

"""Segment exports: a saved segment's members as a CSV file, with masked contacts and progress.

An operator exports a segment to hand its audience to another tool. Starting an export snapshots
the segment's members in one statement (so the file is the segment at one moment, whatever happens
to the membership meanwhile), answers at once with the export's id and ``total``, and leaves the
contacts to the background worker (``export_worker.py``), which advances ``done`` batch by batch. The
file can be read once the export is done, for ``FILE_TTL``; docs/segments.md ("Exports") has the rest.

The stores are protocols: ``services/scoring/store/segment_exports.py`` implements them.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from services.runtime.errors import Conflict, NotFound, RateLimited
from services.scoring.domain.scores import known_id
from services.scoring.domain.segments.export_csv import ExportRow, header_line, row_lines

MAX_ACTIVE_EXPORTS = 3
"""Exports a tenant may have queued or running at once; one more is refused (429) until one ends.
Each holds a snapshot of its segment and a share of the worker, so an unbounded queue would let one
tenant delay every other tenant's exports."""

RETRY_AFTER_SECONDS = 60
"""What a refused start suggests to wait (the Retry-After of the 429)."""

FILE_TTL = timedelta(hours=24)
"""How long a done export's file can be read; then it expires and its rows are pruned."""

RECORD_RETENTION = timedelta(days=7)
"""How long an expired or failed export still answers its status (then it is 404 like any unknown id)."""

READ_PAGE = 5_000
"""Rows per chunk of the file (about 0.4 MB): one indexed range read each."""

SNAPSHOT_LIMIT = 2_000_000
"""The most members an export takes: the snapshot is one statement in the start's transaction (about
3 s and 170 MB a million members, docs/segments.md "Exports"); a larger segment is narrowed first."""


@dataclass(frozen=True, slots=True)
class SegmentExport:
    """An export as the API shows it; ``status`` is queued, running, done, failed or expired."""

    export_id: uuid.UUID
    segment_id: uuid.UUID
    segment_version: int
    status: str
    done: int
    total: int
    rows: int
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None
    error: str | None


class SegmentExportStore(Protocol):
    """Export records and their snapshot rows, for the calling tenant."""

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
        """Snapshot the live segment's members into a new export (queued; done at once, expiring at
        ``file_expires_at``, when it has none). The number of the tenant's active exports instead when
        it is ``max_active`` already. NotFound for a segment unknown or deleted; Conflict with reason
        EXPORT_TOO_LARGE above ``max_members``."""
        ...

    async def get(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, export_id: uuid.UUID
    ) -> SegmentExport | None:
        """The export of that live segment, or None."""
        ...

    async def page(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, export_id: uuid.UUID, after_seq: int, limit: int
    ) -> tuple[SegmentExport | None, list[ExportRow]]:
        """The export (as ``get``) and up to ``limit`` of its rows after ``after_seq`` in order, both
        from one snapshot of the database; members known to be erased are left out."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def as_seen(export: SegmentExport, now: datetime) -> SegmentExport:
    """The export as of ``now``: a done export past its ``expires_at`` is expired, pruned or not."""
    if export.status == "done" and export.expires_at is not None and export.expires_at <= now:
        return dataclasses.replace(export, status="expired")
    return export


def _readable(export: SegmentExport | None, segment_id: str, export_id: str) -> None:
    """Raise unless the export's file can be read now (NotFound, or Conflict naming why not)."""
    if export is None:
        raise NotFound(f"export {export_id!r} of segment {segment_id!r} not found")
    if export.status in ("queued", "running"):
        raise Conflict(
            f"the export is {export.status} ({export.done} of {export.total} members); "
            "read the file once its status is done",
            reason="EXPORT_NOT_READY",
            metadata={"export_status": export.status},
        )
    if export.status == "failed":
        raise Conflict(
            f"the export failed ({export.error or 'unknown error'}); start a new export",
            reason="EXPORT_FAILED",
            metadata={"export_status": export.status},
        )
    if export.status == "expired":
        raise Conflict(
            f"the export's file expired after {int(FILE_TTL.total_seconds()) // 3600} hours; "
            "start a new export",
            reason="EXPORT_EXPIRED",
            metadata={"export_status": export.status},
        )


class SegmentExports:
    """The export use cases of the API: start one, see its progress, read its file."""

    def __init__(self, store: SegmentExportStore, clock: Callable[[], datetime] = _utc_now) -> None:
        self._store = store
        self._clock = clock

    async def start(self, tenant_id: uuid.UUID, segment_id: str) -> SegmentExport:
        """Snapshot the segment's members and queue their export.

        NotFound for an unknown, deleted or another tenant's segment; RateLimited while the tenant has
        ``MAX_ACTIVE_EXPORTS`` queued or running; Conflict above ``SNAPSHOT_LIMIT`` members.
        """
        segment = known_id(segment_id, "segment")
        now = self._clock()
        started = await self._store.start(
            tenant_id, segment, uuid.uuid4(), now, now + FILE_TTL, MAX_ACTIVE_EXPORTS, SNAPSHOT_LIMIT
        )
        if isinstance(started, int):
            raise RateLimited(
                f"{started} exports are queued or running for this tenant, the most at once is "
                f"{MAX_ACTIVE_EXPORTS}; retry when one is done",
                retry_after_seconds=RETRY_AFTER_SECONDS,
            )
        return started

    async def get(self, tenant_id: uuid.UUID, segment_id: str, export_id: str) -> SegmentExport:
        """The export's status and progress; NotFound for an unknown or another tenant's id."""
        export = await self._store.get(
            tenant_id, known_id(segment_id, "segment"), known_id(export_id, "export")
        )
        if export is None:
            raise NotFound(f"export {export_id!r} of segment {segment_id!r} not found")
        return as_seen(export, self._clock())

    async def read(self, tenant_id: uuid.UUID, segment_id: str, export_id: str) -> AsyncIterator[str]:
        """The file of a done export, a chunk of lines at a time, the header first.

        Raises (before the first chunk) NotFound, or Conflict while it is not done, after it failed
        or expired; each later page checks again, so a file that expires mid-read ends in an error
        instead of a silently short file.
        """
        segment, export = known_id(segment_id, "segment"), known_id(export_id, "export")
        after = 0
        first = True
        while True:
            record, rows = await self._store.page(tenant_id, segment, export, after, READ_PAGE)
            _readable(record if record is None else as_seen(record, self._clock()), segment_id, export_id)
            if not rows:
                if first:
                    yield header_line()
                return
            yield (header_line() if first else "") + row_lines(rows)
            first = False
            after = rows[-1].seq

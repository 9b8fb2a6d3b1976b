"""Segment exports (scoring service): a saved segment's members as a CSV file, with progress.

- `POST /v1/segments/{segment_id}/exports` → 202 with the export (`status` queued, `progress`
  `{"done": 0, "total": n}`) and its `Location`: the segment's members are snapshotted now; a
  background worker then fetches their masked contacts from profile, a batch at a time. 429 (with
  `Retry-After`) while the tenant already has 3 exports queued or running; 409 `EXPORT_TOO_LARGE`
  above 2,000,000 members.
- `GET /v1/segments/{segment_id}/exports/{export_id}`: status (`queued running done failed
  expired`), progress, `rows`, times; `expires_at` says until when the file can be read (24 h).
- `GET /v1/segments/{segment_id}/exports/{export_id}/csv`: the file, streamed as `text/csv` (UTF-8,
  RFC 4180): `customer_id,entered_at,phone,email`, one member a line in customer id order, contacts
  masked (empty when none), cells a spreadsheet would run as formulas prefixed with `'`. 409 with
  `reason` EXPORT_NOT_READY, EXPORT_FAILED or EXPORT_EXPIRED until it can be read.

An unknown, deleted or another tenant's segment or export answers 404. docs/segments.md ("Exports")
has the rules.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal, cast

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from gateway.audit import Audit, audit_target
from gateway.auth import scoped
from gateway.dependencies import ERRORS, Scoring
from patron.scoring.v1 import segment_exports_pb2
from services.runtime.proto_convert import from_timestamp, optional_time, text_or_none

router = APIRouter(prefix="/v1/segments", tags=["segments"])

START_DEADLINE_SECONDS = 30.0
"""The start snapshots the members in one statement (~3 s a million, at most 2 million members)."""

DOWNLOAD_DEADLINE_SECONDS = 600.0
"""The longest a download may stream (a 2-million-row file is ~180 MB)."""

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

ExportStatus = Literal["queued", "running", "done", "failed", "expired"]


class ExportProgress(BaseModel):
    done: int = Field(description="members of the snapshot processed so far")
    total: int = Field(description="members in the snapshot taken when the export started")


class ExportOut(BaseModel):
    export_id: uuid.UUID
    segment_id: uuid.UUID
    status: ExportStatus
    progress: ExportProgress
    rows: int = Field(
        description="rows written so far: members profile still held as live customers (erased or "
        "merged-away members are left out)"
    )
    segment_version: int = Field(description="the segment's version when the snapshot was taken")
    created_at: datetime
    finished_at: datetime | None = Field(description="when it became done or failed")
    expires_at: datetime | None = Field(description="until when the file can be read (done exports)")
    error: str | None = Field(description="why it failed")

    @classmethod
    def from_proto(cls, message: segment_exports_pb2.SegmentExport) -> ExportOut:
        return cls(
            export_id=uuid.UUID(message.export_id),
            segment_id=uuid.UUID(message.segment_id),
            status=cast(ExportStatus, message.status),  # the service's closed vocabulary
            progress=ExportProgress(done=message.done, total=message.total),
            rows=message.rows,
            segment_version=message.segment_version,
            created_at=from_timestamp(message.created_at),
            finished_at=optional_time(message, "finished_at"),
            expires_at=optional_time(message, "expires_at"),
            error=text_or_none(message.error),
        )


class CsvResponse(StreamingResponse):
    media_type = CSV_MEDIA_TYPE


CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"description": "the file: header customer_id,entered_at,phone,email, then one member a line"}
}


@router.post(
    "/{segment_id}/exports", status_code=202, response_model=ExportOut, responses=ERRORS, **scoped("operate")
)
async def start_export(segment_id: str, scoring: Scoring, audit: Audit) -> JSONResponse:
    """Snapshot the segment's members and export them (ids and masked contacts) in the background."""
    async with audit.action("segment.export", target=segment_id) as entry:
        export = await scoring.exports.StartExport(
            segment_exports_pb2.StartExportRequest(segment_id=segment_id),
            deadline_seconds=START_DEADLINE_SECONDS,
        )
        entry.note(export_id=export.export_id, members=export.total)
    body = ExportOut.from_proto(export)
    return JSONResponse(
        status_code=202,
        content=body.model_dump(mode="json"),
        headers={"Location": f"/v1/segments/{body.segment_id}/exports/{body.export_id}"},
    )


@router.get(
    "/{segment_id}/exports/{export_id}", response_model=ExportOut, responses=ERRORS, **scoped("operate")
)
async def get_export(segment_id: str, export_id: str, scoring: Scoring) -> ExportOut:
    """The export's status and progress."""
    request = segment_exports_pb2.GetExportRequest(segment_id=segment_id, export_id=export_id)
    return ExportOut.from_proto(await scoring.exports.GetExport(request))


@router.get(
    "/{segment_id}/exports/{export_id}/csv",
    response_class=CsvResponse,
    responses={**CSV_ANSWER, **ERRORS},
    **scoped("operate"),
)
async def download_export(segment_id: str, export_id: str, scoring: Scoring, audit: Audit) -> CsvResponse:
    """The file of a done export, streamed; 409 until it is done (and after it failed or expired).
    Audited as handed out once its first chunk is read (what follows is only the rest of the file)."""
    request = segment_exports_pb2.ReadExportRequest(segment_id=segment_id, export_id=export_id)
    segment = audit_target(segment_id) or None
    async with audit.action("segment.export.download", target=export_id, segment_id=segment):
        chunks = scoring.exports.ReadExport.stream(request, deadline_seconds=DOWNLOAD_DEADLINE_SECONDS)
        # The first chunk is awaited here, so that a refusal (404, 409) is still a problem answer; a
        # failure later (the file expired mid-read) can only cut the stream short, never end it cleanly.
        first = await anext(chunks, None)

    async def body() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield first.csv
            async for chunk in chunks:
                yield chunk.csv
        finally:
            await chunks.aclose()  # the client went away: cancel the call now, not at collection

    filename = f"segment-{uuid.UUID(segment_id)}-export-{uuid.UUID(export_id)}.csv"  # ids scoring accepted
    return CsvResponse(body(), headers={"Content-Disposition": f'attachment; filename="{filename}"'})

"""SegmentExportService: start a segment export, see its progress, stream its file. Converts and
delegates only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from patron.scoring.v1 import segment_exports_pb2, segment_exports_pb2_grpc
from services.runtime.proto_convert import set_time, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant
from services.scoring.domain.segments.exports import SegmentExport, SegmentExports

SEGMENT_EXPORT_SERVICE = "patron.scoring.v1.SegmentExportService"


def export_to_proto(export: SegmentExport) -> segment_exports_pb2.SegmentExport:
    """The domain's export as the contract's message."""
    message = segment_exports_pb2.SegmentExport(
        export_id=str(export.export_id),
        segment_id=str(export.segment_id),
        status=export.status,
        done=export.done,
        total=export.total,
        rows=export.rows,
        segment_version=export.segment_version,
        created_at=to_timestamp(export.created_at),
        error=export.error or "",
    )
    set_time(message, "finished_at", export.finished_at)
    set_time(message, "expires_at", export.expires_at)
    return message


class SegmentExportServicer(segment_exports_pb2_grpc.SegmentExportServiceServicer):
    """Every call acts for the tenant of its metadata; another tenant's ids are not found."""

    def __init__(self, exports: SegmentExports) -> None:
        self._exports = exports

    async def StartExport(
        self, request: segment_exports_pb2.StartExportRequest, context: aio.ServicerContext[Any, Any]
    ) -> segment_exports_pb2.SegmentExport:
        return export_to_proto(await self._exports.start(current_tenant(), request.segment_id))

    async def GetExport(
        self, request: segment_exports_pb2.GetExportRequest, context: aio.ServicerContext[Any, Any]
    ) -> segment_exports_pb2.SegmentExport:
        export = await self._exports.get(current_tenant(), request.segment_id, request.export_id)
        return export_to_proto(export)

    async def ReadExport(
        self, request: segment_exports_pb2.ReadExportRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[segment_exports_pb2.ExportChunk]:
        chunks = self._exports.read(current_tenant(), request.segment_id, request.export_id)
        async for chunk in chunks:
            yield segment_exports_pb2.ExportChunk(csv=chunk.encode("utf-8"))


def segment_exports_registration(exports: SegmentExports) -> Registration:
    """The SegmentExportService registration for the scoring service's server."""
    return Registration(
        segment_exports_pb2_grpc.add_SegmentExportServiceServicer_to_server,
        SegmentExportServicer(exports),
        SEGMENT_EXPORT_SERVICE,
    )

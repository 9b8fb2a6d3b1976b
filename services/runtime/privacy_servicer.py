"""``patron.common.v1.CustomerPrivacy``, served by every service over its :class:`PrivacyPort`.

An export is sent as parts of at most ``EXPORT_PART_BYTES`` of JSON each, so no gRPC message limit
bounds it (the rows per section are bounded by the stores, ``privacy.MAX_EXPORT_ROWS``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from grpc import aio

from patron.common.v1 import privacy_pb2, privacy_pb2_grpc
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.privacy import PrivacyPort, export_value
from services.runtime.proto_convert import to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

PRIVACY_SERVICE = "patron.common.v1.CustomerPrivacy"
EXPORT_PART_BYTES = 1 << 20
MAX_MERGED_IDS = 10_000


def _dumps(value: Any) -> str:
    return json.dumps(value, default=export_value, ensure_ascii=False)


def export_parts(exported: Mapping[str, Any]) -> list[privacy_pb2.ExportPart]:
    """The export as parts: each list section in arrays of at most ``EXPORT_PART_BYTES`` (at least
    one, so an empty section is still named), each other section as one object."""
    parts: list[privacy_pb2.ExportPart] = []
    for section, value in exported.items():
        if not isinstance(value, list):
            parts.append(privacy_pb2.ExportPart(section=section, json=_dumps(value), is_object=True))
            continue
        chunk: list[str] = []
        size = 0
        for row in value:
            text = _dumps(row)
            if chunk and size + len(text) > EXPORT_PART_BYTES:
                parts.append(privacy_pb2.ExportPart(section=section, json=f"[{','.join(chunk)}]"))
                chunk, size = [], 0
            chunk.append(text)
            size += len(text) + 1
        if chunk or not value:
            parts.append(privacy_pb2.ExportPart(section=section, json=f"[{','.join(chunk)}]"))
    return parts


def _customer(text: str) -> uuid.UUID:
    """A customer id of the request; one that is no UUID can exist nowhere (404, as every path id)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("customer not found") from None


def _merged(texts: Sequence[str]) -> list[uuid.UUID]:
    if len(texts) > MAX_MERGED_IDS:
        raise InvalidArgument.single("merged_customer_ids", f"at most {MAX_MERGED_IDS}")
    try:
        return [uuid.UUID(text) for text in texts]
    except ValueError:
        raise InvalidArgument.single("merged_customer_ids", "must be UUIDs") from None


class CustomerPrivacyServicer(privacy_pb2_grpc.CustomerPrivacyServicer):
    """Converts and delegates to the service's :class:`PrivacyPort`."""

    def __init__(self, port: PrivacyPort) -> None:
        self._port = port

    async def ExportCustomerData(
        self, request: privacy_pb2.ExportCustomerDataRequest, context: aio.ServicerContext
    ) -> AsyncIterator[privacy_pb2.ExportPart]:
        exported = await self._port.export_customer(
            current_tenant(), _customer(request.customer_id), _merged(request.merged_customer_ids)
        )
        for part in export_parts(exported):
            yield part

    async def GetErasureStatus(
        self, request: privacy_pb2.ErasureStatusRequest, context: aio.ServicerContext
    ) -> privacy_pb2.ErasureStatusResponse:
        status = await self._port.erasure_status(current_tenant(), _customer(request.customer_id))
        response = privacy_pb2.ErasureStatusResponse(done=status.done, customer_id=str(status.customer_id))
        if status.erased_at is not None:
            response.erased_at.CopyFrom(to_timestamp(status.erased_at))
        return response


def privacy_registration(port: PrivacyPort) -> Registration:
    """The registration a service adds to serve its part of exports and erasure status."""
    return Registration(
        privacy_pb2_grpc.add_CustomerPrivacyServicer_to_server, CustomerPrivacyServicer(port), PRIVACY_SERVICE
    )

"""The one place where domain errors become gRPC statuses (with google.rpc rich details).

Field violations travel as ``google.rpc.BadRequest`` and the error's reason and metadata as
``google.rpc.ErrorInfo`` in the ``grpc-status-details-bin`` trailer, so the gateway can name the field
at fault in its problem+json answer.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from services.runtime import errors

STATUS_DETAILS_KEY = "grpc-status-details-bin"
ERROR_DOMAIN = "patron"

_CODES: list[tuple[type[errors.DomainError], grpc.StatusCode]] = [
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.Conflict, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
]


def status_code_for(error: errors.DomainError) -> grpc.StatusCode:
    """The gRPC status code of a domain error (UNKNOWN for a DomainError nobody mapped: a bug)."""
    for error_type, code in _CODES:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.UNKNOWN


def status_details(error: errors.DomainError, code: grpc.StatusCode) -> bytes:
    """Serialized ``google.rpc.Status`` carrying ErrorInfo and, for bad input, BadRequest."""
    details: list[any_pb2.Any] = []
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)
    packed = any_pb2.Any()
    packed.Pack(info)
    details.append(packed)
    if isinstance(error, errors.InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.message)
                for v in error.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad_request)
        details.append(packed)
    status = status_pb2.Status(code=code.value[0], message=error.message, details=details)
    serialized: bytes = status.SerializeToString()
    return serialized


def trailing_metadata_for(error: errors.DomainError) -> tuple[grpc.StatusCode, tuple[tuple[str, bytes], ...]]:
    """Code and trailers with which a servicer aborts for ``error``."""
    code = status_code_for(error)
    return code, ((STATUS_DETAILS_KEY, status_details(error, code)),)


def parse_status_details(
    trailing_metadata: object,
) -> tuple[str | None, dict[str, str], list[errors.FieldViolation]]:
    """Read reason, metadata and field violations back out of a failed call's trailers (client side)."""
    reason: str | None = None
    metadata: dict[str, str] = {}
    violations: list[errors.FieldViolation] = []
    for key, value in trailing_metadata or ():  # type: ignore[attr-defined]
        if key != STATUS_DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                violations.extend(
                    errors.FieldViolation(v.field, v.description) for v in bad_request.field_violations
                )
    return reason, metadata, violations

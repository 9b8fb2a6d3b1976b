"""Every error the gateway answers, as ``application/problem+json`` (RFC 9457), mapped in one place.

gRPC status codes become HTTP statuses here; field violations that a service reported come back as
the ``errors`` list with the same field paths the client wrote. A 500 is always a bug, and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from gateway.validation import message_for
from services.runtime.grpc_errors import parse_status_details

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
INVALID = "INVALID_ARGUMENT"  # the reason of every 422, as the services' InvalidArgument says it
# FastAPI's answer to a body it could not decode (not UTF-8, say): made a 422 like malformed JSON.
_UNDECODABLE_BODY = "There was an error parsing the body"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
    504: "Service timed out",
}

_GRPC_TO_HTTP = {
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.OUT_OF_RANGE: 422,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.CANCELLED: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status a failed service call with ``code`` answers (500 for a code that is a bug)."""
    return _GRPC_TO_HTTP.get(code, 500)


def problem(
    status: int,
    detail: str,
    *,
    errors: Sequence[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response; ``type`` is a stable slug of the title."""
    title = _TITLES.get(status, "Error")
    body: dict[str, Any] = {
        "type": f"/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = list(errors)
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_path(location: Sequence[str | int]) -> str:
    """``("body", "items", 2, "quantity")`` → ``items[2].quantity`` (the first part says where)."""
    parts = list(location[1:]) if location and location[0] in ("body", "query", "path", "header") else []
    if not parts:
        return str(location[0]) if location else "body"
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def invalid(errors: Sequence[dict[str, str]], detail: str = "the request is invalid") -> JSONResponse:
    """The one shape of every 422: ``errors`` (field and message each) and ``reason``."""
    return problem(422, detail, errors=errors, reason=INVALID)


# google.rpc metadata is text; these members are numbers in a problem (money in integer minor units,
# points, counts), whichever service sent them.
_NUMERIC_METADATA = frozenset({"balance", "budget", "per_customer_limit"})
_NUMERIC_SUFFIXES = ("_minor", "_points", "_count", "_days")


def _metadata_value(key: str, value: str) -> str | int:
    numeric = key in _NUMERIC_METADATA or key.endswith(_NUMERIC_SUFFIXES)
    if numeric and value.removeprefix("-").isdigit():
        return int(value)
    return value


def problem_for_rpc_error(error: grpc.aio.AioRpcError, service: str) -> JSONResponse:
    """The HTTP answer for a failed service call."""
    code = error.code()
    status = _GRPC_TO_HTTP.get(code, 500)
    reason, metadata, violations = parse_status_details(error.trailing_metadata())
    if status == 500:
        logger.error("%s answered %s: %s", service, code.name, error.details())
        return problem(500, "an internal error occurred; it has been logged")
    headers: dict[str, str] = {}
    detail = error.details() or code.name.lower()
    if status == 429:
        headers["Retry-After"] = metadata.get("retry_after_seconds", "1")
    if status == 503:
        detail = f"the {service} service is unavailable"
    elif status == 504:
        detail = f"the {service} service did not answer in time"
    extensions: dict[str, Any] = {}
    if reason:
        extensions["reason"] = reason
    extensions.update({k: _metadata_value(k, v) for k, v in metadata.items() if k != "retry_after_seconds"})
    errors = None
    if status == 422:
        errors = [{"field": v.field, "message": v.message} for v in violations]
        errors = errors or [{"field": "body", "message": detail}]
        extensions.setdefault("reason", INVALID)
    return problem(status, detail, errors=errors, headers=headers or None, **extensions)


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route of ``app`` answers at the request's path (the ``Allow`` of a 405)."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        route_methods = getattr(route, "methods", None)
        if match != Match.NONE and route_methods:
            methods.update(route_methods)
    return sorted(methods)


class ServiceCallError(Exception):
    """A gRPC call failed; carries which service so the problem can say so."""

    def __init__(self, service: str, error: grpc.aio.AioRpcError) -> None:
        super().__init__(f"{service}: {error.code().name}")
        self.service = service
        self.error = error


def install(app: FastAPI) -> None:
    """Register the exception handlers that turn every failure into problem+json."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": "body" if e.get("type") == "json_invalid" else field_path(e["loc"]),
                "message": message_for(e),
            }
            for e in exc.errors()
        ]
        return invalid(errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNDECODABLE_BODY:
            return invalid([{"field": "body", "message": "the body is not valid JSON in UTF-8"}])
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        extensions: dict[str, Any] = getattr(exc, "extensions", None) or {}
        return problem(exc.status_code, str(exc.detail), headers=headers or None, **extensions)

    @app.exception_handler(ServiceCallError)
    async def _service(_: Request, exc: ServiceCallError) -> JSONResponse:
        return problem_for_rpc_error(exc.error, exc.service)

    @app.exception_handler(UnicodeEncodeError)
    async def _not_unicode(_: Request, exc: UnicodeEncodeError) -> JSONResponse:
        # JSON may carry lone surrogates ("\ud800") that no protobuf string can hold.
        message = "text must be valid Unicode (a lone surrogate is not)"
        return invalid([{"field": "body", "message": message}])

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "an internal error occurred; it has been logged")

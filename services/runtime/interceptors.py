"""The server interceptor every service runs: deadline and tenant required, errors mapped, calls measured.

grpc.aio interceptors see only the method name and metadata, so the checks that need the call
context (the deadline) wrap the method handler itself.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from services.runtime import errors
from services.runtime.database import is_transient, is_unavailable
from services.runtime.grpc_errors import trailing_metadata_for
from services.runtime.tenancy import TENANT_METADATA_KEY, set_current_tenant

logger = logging.getLogger(__name__)

# Infrastructure services that answer without tenant or deadline (probes, tooling).
OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

RPC_CALLS = Counter("patron_rpc_calls_total", "gRPC calls served", ["method", "code"])
RPC_SECONDS = Histogram(
    "patron_rpc_duration_seconds",
    "gRPC call latency",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def _metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode()
    return None


class RuntimeInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Admits a call only with a deadline and (unless exempt) a tenant, and maps what it raises."""

    def __init__(self, tenant_exempt_methods: frozenset[str] = frozenset()) -> None:
        self._tenant_exempt = tenant_exempt_methods
        # grpc.aio asks the interceptor on every call; a method's wrapped handler is built once.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            return handler
        cached = self._wrapped.get(method)
        if cached is None or cached[0] is not handler:  # rebuilt if the method's handler ever changes
            cached = self._wrapped[method] = (handler, self._wrap(method, handler))
        return cached[1]

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` with its behaviour run inside the admission checks and error mapping."""
        needs_tenant = method not in self._tenant_exempt
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, needs_tenant, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, needs_tenant, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, needs_tenant, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, needs_tenant, handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _admit(self, context: grpc.aio.ServicerContext, needs_tenant: bool) -> None:
        """Raise a domain error when the call lacks what every call must carry."""
        if context.time_remaining() is None:
            raise errors.InvalidArgument.single("grpc-timeout", "every call must carry a deadline")
        if not needs_tenant:
            set_current_tenant(None)
            return
        raw = _metadata_value(context, TENANT_METADATA_KEY)
        if not raw:
            raise errors.Unauthenticated(f"metadata {TENANT_METADATA_KEY} is required")
        try:
            set_current_tenant(uuid.UUID(raw))
        except ValueError:
            raise errors.InvalidArgument.single(TENANT_METADATA_KEY, "must be a UUID") from None

    async def _fail(self, context: grpc.aio.ServicerContext, method: str, error: BaseException) -> None:
        """Abort the call with the status that ``error`` deserves; never leak internals."""
        if isinstance(error, errors.DomainError):
            domain_error = error
        elif is_unavailable(error):
            logger.warning("database unavailable during %s: %s", method, error)
            domain_error = errors.Unavailable("the service's database is unavailable")
        elif is_transient(error):
            logger.warning("transient database error during %s: %s", method, error)
            domain_error = errors.Unavailable("the service is busy; retry shortly")
        else:
            logger.exception("unexpected error in %s", method, exc_info=error)
            RPC_CALLS.labels(method, "INTERNAL").inc()
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            return
        code, trailers = trailing_metadata_for(domain_error)
        RPC_CALLS.labels(method, code.name).inc()
        await context.abort(code, domain_error.message, trailing_metadata=trailers)

    def _wrap_unary(
        self, method: str, needs_tenant: bool, behavior: Callable[[Any, Any], Awaitable[Any]]
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                self._admit(context, needs_tenant)
                response = await behavior(request, context)
            except Exception as error:
                if isinstance(error, grpc.aio.AbortError):
                    raise
                await self._fail(context, method, error)
                raise
            finally:
                RPC_SECONDS.labels(method).observe(time.perf_counter() - started)
            RPC_CALLS.labels(method, "OK").inc()
            return response

        return unary

    def _wrap_stream(
        self, method: str, needs_tenant: bool, behavior: Callable[[Any, Any], AsyncIterator[Any]]
    ) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                self._admit(context, needs_tenant)
                async for response in behavior(request, context):
                    yield response
            except Exception as error:
                if isinstance(error, grpc.aio.AbortError):
                    raise
                await self._fail(context, method, error)
                raise
            RPC_CALLS.labels(method, "OK").inc()

        return stream

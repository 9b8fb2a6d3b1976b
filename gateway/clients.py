"""gRPC channels and stubs to the four services, and the one way the gateway calls them.

Every call carries the configured deadline and, for tenant calls, the tenant in metadata; a failure
becomes a ServiceCallError that the problem handlers map to HTTP. The channels speak TLS (mutual with
client authentication) when ``PATRON_GRPC_TLS_*`` configures it (services.runtime.grpc_tls).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from gateway.problems import ServiceCallError
from gateway.settings import GatewaySettings
from services.runtime.grpc_tls import GrpcTls, balancing, client_channel
from services.runtime.telemetry import grpc_client_interceptors
from services.runtime.tenancy import TENANT_METADATA_KEY

Response = TypeVar("Response")

_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 0),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
]


def service_of(stub_class: type[Any]) -> str:
    """The service a generated stub belongs to: ``profile`` for ``patron.profile.v1.orders_pb2_grpc``."""
    package, service, *_ = stub_class.__module__.split(".")
    if package != "patron" or service == "common":
        raise ValueError(f"{stub_class.__qualname__} belongs to no one service; name the service")
    return service


def _is_unavailable(error: BaseException) -> bool:
    return isinstance(error, ServiceCallError) and error.error.code() == grpc.StatusCode.UNAVAILABLE


class ServiceClients:
    """Long-lived channels to the services (one per service, shared by all requests)."""

    def __init__(self, settings: GatewaySettings, tls: GrpcTls | None = None) -> None:
        self._settings = settings
        self.addresses = settings.service_addresses()
        self.channels: dict[str, grpc.aio.Channel] = {
            name: client_channel(
                address,
                tls,
                # an address may name several replicas (docs/scaling.md)
                options=[*_CHANNEL_OPTIONS, *balancing(address)],
                interceptors=grpc_client_interceptors(),
            )
            for name, address in self.addresses.items()
        }
        self._stubs: dict[tuple[str, type[Any]], Any] = {}

    def stub(self, stub_class: type[Any], service: str | None = None) -> Any:
        """The stub of ``stub_class`` on its service's channel, built once and shared by all requests.

        The service is the one the generated stub belongs to (``patron.<service>.v1``); a stub of a
        shared contract (``patron.common``) names the service it is for. Generated stubs are
        untyped, hence ``Any``.
        """
        name = service or service_of(stub_class)
        key = (name, stub_class)
        stub = self._stubs.get(key)
        if stub is None:
            stub = self._stubs[key] = stub_class(self.channels[name])
        return stub

    async def call(
        self,
        service: str,
        method: Callable[..., Awaitable[Response]],
        request: Any,
        *,
        tenant_id: str | None = None,
        deadline_seconds: float | None = None,
    ) -> Response:
        """Call ``method`` with the deadline and tenant metadata; failures raise ServiceCallError."""
        metadata = ((TENANT_METADATA_KEY, tenant_id),) if tenant_id else ()
        try:
            return await method(
                request, timeout=deadline_seconds or self._settings.rpc_timeout_seconds, metadata=metadata
            )
        except grpc.aio.AioRpcError as error:
            raise ServiceCallError(service, error) from error

    async def stream(
        self,
        service: str,
        method: Callable[..., Any],
        request: Any,
        *,
        tenant_id: str | None = None,
        deadline_seconds: float | None = None,
    ) -> AsyncGenerator[Any, None]:
        """The messages of a server-streaming ``method``, with the deadline (for the whole stream) and
        tenant metadata; a failure, before or between messages, raises ServiceCallError. Closing the
        iterator early (the HTTP client went away) cancels the call."""
        metadata = ((TENANT_METADATA_KEY, tenant_id),) if tenant_id else ()
        timeout = deadline_seconds or self._settings.rpc_timeout_seconds
        call = method(request, timeout=timeout, metadata=metadata)
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as error:
            raise ServiceCallError(service, error) from error
        finally:
            call.cancel()

    async def call_idempotent(
        self,
        service: str,
        method: Callable[..., Awaitable[Response]],
        request: Any,
        *,
        tenant_id: str | None = None,
        attempts: int = 3,
    ) -> Response:
        """As :meth:`call`, retried with backoff while the service is unavailable. Idempotent calls only."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_is_unavailable),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            reraise=True,
        ):
            with attempt:
                return await self.call(service, method, request, tenant_id=tenant_id)
        raise AssertionError("unreachable")  # pragma: no cover

    async def health(self) -> dict[str, str]:
        """Each service's overall health status name (SERVING, NOT_SERVING, UNAVAILABLE, ...)."""

        async def check(name: str, channel: grpc.aio.Channel) -> tuple[str, str]:
            try:
                response = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=self._settings.health_timeout_seconds
                )
            except grpc.aio.AioRpcError as error:
                return name, error.code().name
            return name, health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

        results = await asyncio.gather(*(check(n, c) for n, c in self.channels.items()))
        return dict(results)

    async def close(self) -> None:
        await asyncio.gather(*(channel.close() for channel in self.channels.values()))

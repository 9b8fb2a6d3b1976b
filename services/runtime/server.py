"""The gRPC server every service runs: health, reflection, interceptors, readiness and graceful stop.

A service hands over its servicers; this module serves them. The health status is SERVING only while
the service's database answers, and on SIGTERM it turns NOT_SERVING, lets calls in flight finish within
the grace period, then stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.runtime.cancellation import raise_if_cancelled
from services.runtime.database import Database
from services.runtime.grpc_tls import GrpcTls
from services.runtime.interceptors import RuntimeInterceptor
from services.runtime.telemetry import grpc_server_interceptors

logger = logging.getLogger(__name__)

# Health name the liveness probe asks: SERVING while the process runs, whatever its database does,
# so that a database outage makes pods unready (no traffic) without restarting them.
LIVENESS = "liveness"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


BackgroundTask = Callable[["ServiceServer"], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Registration:
    """A servicer and how to add it: ``add`` is the generated ``add_XServicer_to_server``."""

    add: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    service_name: str  # full proto name, e.g. "patron.profile.v1.CustomerService"


@dataclass
class ServiceServer:
    """One service's gRPC server. ``start`` binds and serves; ``stop`` drains and closes."""

    name: str
    database: Database
    registrations: Sequence[Registration]
    tenant_exempt_methods: frozenset[str] = frozenset()
    host: str = "0.0.0.0"
    port: int = 0
    db_check_interval: float = 5.0
    max_concurrent_rpcs: int | None = None
    # Long-running work of the service (event sequencer, consumers), started with the server and
    # cancelled before it drains.
    background: Sequence[BackgroundTask] = ()
    # gRPC server reflection lists every method to anyone who can reach the port: on in development
    # and tests (grpcurl, debugging), off in production
    serve_reflection: bool = True
    # TLS (mutual with client authentication) on the port when given; plaintext otherwise
    tls: GrpcTls | None = None
    # A second, plaintext port serving only grpc.health.v1 (0: any free port), for probes that cannot
    # speak TLS, such as the kubelet's gRPC probes; None: none
    health_port: int | None = None
    bound_port: int = field(init=False, default=0)
    bound_health_port: int = field(init=False, default=0)
    _health_server: grpc.aio.Server | None = field(init=False, default=None)
    _server: grpc.aio.Server = field(init=False)
    _health: health.aio.HealthServicer = field(init=False)
    _watcher: asyncio.Task[None] | None = field(init=False, default=None)
    _tasks: list[asyncio.Task[None]] = field(init=False, default_factory=list)
    _stopping: bool = field(init=False, default=False)

    async def start(self) -> int:
        """Bind, serve, and start watching the database; returns the port actually bound."""
        self._server = grpc.aio.server(
            interceptors=[*grpc_server_interceptors(), RuntimeInterceptor(self.tenant_exempt_methods)],
            maximum_concurrent_rpcs=self.max_concurrent_rpcs,
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", 8 * 1024 * 1024),
                # Clients reconnect every few minutes, so new replicas get their share of calls.
                ("grpc.max_connection_age_ms", 300_000),
                ("grpc.max_connection_age_grace_ms", 30_000),
            ],
        )
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        for registration in self.registrations:
            registration.add(registration.servicer, self._server)
        names = [r.service_name for r in self.registrations]
        if self.serve_reflection:
            reflection.enable_server_reflection(
                [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
            )
        address = f"{self.host}:{self.port}"
        if self.tls is None:
            self.bound_port = self._server.add_insecure_port(address)
        else:
            self.bound_port = self._server.add_secure_port(address, self.tls.server_credentials())
        if self.bound_port == 0:
            raise RuntimeError(f"{self.name}: could not bind {address}")
        await self._set_health(NOT_SERVING)
        await self._health.set(LIVENESS, SERVING)
        await self._server.start()
        if self.health_port is not None:
            await self._serve_plain_health(self.health_port)
        self._watcher = asyncio.create_task(self._watch_database(), name=f"{self.name}-db-watch")
        self._tasks = [asyncio.create_task(self._supervise(work)) for work in self.background]
        logger.info(
            "%s serving gRPC%s on port %d", self.name, " over TLS" if self.tls else "", self.bound_port
        )
        return self.bound_port

    async def _serve_plain_health(self, port: int) -> None:
        """Health alone, in plaintext: what it tells (SERVING or not) is no secret, and the kubelet's
        gRPC probes can neither verify a certificate nor present one."""
        self._health_server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._health_server)
        self.bound_health_port = self._health_server.add_insecure_port(f"{self.host}:{port}")
        if self.bound_health_port == 0:
            raise RuntimeError(f"{self.name}: could not bind the health port {self.host}:{port}")
        await self._health_server.start()
        logger.info("%s serving health in plaintext on port %d", self.name, self.bound_health_port)

    async def _supervise(self, work: BackgroundTask) -> None:
        """Run a background task; one that fails is logged and started again after a pause."""
        while not self._stopping:
            try:
                await work(self)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                raise_if_cancelled(error)
                logger.exception("%s: background task %s failed; restarting it", self.name, work)
                await asyncio.sleep(1.0)

    async def set_component_health(self, component: str, serving: bool) -> None:
        """Report a part of the service (e.g. a consumer behind retention) under its own health name."""
        await self._health.set(component, SERVING if serving else NOT_SERVING)

    async def _set_health(self, status: int) -> None:
        await self._health.set("", status)
        for registration in self.registrations:
            await self._health.set(registration.service_name, status)

    async def _watch_database(self) -> None:
        """SERVING while the database answers, NOT_SERVING while it does not."""
        serving: bool | None = None
        while not self._stopping:
            healthy = await self.database.ping()
            if healthy != serving and not self._stopping:
                await self._set_health(SERVING if healthy else NOT_SERVING)
                logger.log(
                    logging.INFO if healthy else logging.WARNING,
                    "%s database %s",
                    self.name,
                    "answers: SERVING" if healthy else "down: NOT_SERVING",
                )
                serving = healthy
            await asyncio.sleep(self.db_check_interval if healthy else min(self.db_check_interval, 0.5))

    async def stop(self, grace: float) -> None:
        """NOT_SERVING at once, then let calls in flight finish for up to ``grace`` seconds."""
        if self._stopping:
            return
        self._stopping = True
        await self._health.enter_graceful_shutdown()
        tasks = [*self._tasks, *([self._watcher] if self._watcher else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a task that ignores its cancellation must not hold the shutdown hostage.
            _, stuck = await asyncio.wait(tasks, timeout=grace)
            for task in stuck:
                logger.warning("%s: background task %s did not stop within %.1f s", self.name, task, grace)
        await self._server.stop(grace)
        if self._health_server is not None:
            await self._health_server.stop(0)
        await self.database.dispose()
        logger.info("%s stopped", self.name)

    async def wait(self) -> None:
        await self._server.wait_for_termination()


async def serve_until_signalled(server: ServiceServer, grace: float) -> None:
    """Run ``server`` until SIGTERM or SIGINT, then stop it gracefully."""
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    logger.info("%s received a stop signal; draining for up to %.0f s", server.name, grace)
    await server.stop(grace)

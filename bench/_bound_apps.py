"""The servers of the no-database bounds (started as child processes by :mod:`bench._bounds`).

A benchmark's figure means little alone on a shared 2-core machine: these servers measure, in the same
run, what the same framework and the same hop achieve with no database, so that the figure can be read
as a share of that bound.

- ``http`` without ``--grpc-target`` (**nodb-http**): a FastAPI app served exactly as the gateway
  serves its own (gateway/server.py: uvicorn, httptools, uvloop, no access log, one process), with
  the gateway's routes ``POST /v1/customers/identify`` and ``POST /v1/events``, their bodies
  validated by the gateway's own request models (gateway.schemas, gateway.routers.events: they import
  without a database) and answered, through the gateway's response models, with a fixed answer of the
  real one's shape. No database, no gRPC. The key is checked against the one given (a string compare
  rather than the gateway's hash lookup); the gateway's middleware stack is left out, so the bound
  is what the framework, the validation and the answer cost.
- ``http --grpc-target HOST:PORT`` (**nodb-grpc**): the same app, but each handler builds the request
  protobuf as the gateway's route does and calls the profile service's method (``CustomerService/
  Identify``, ``BehaviourService/RecordEvents``) over a grpc.aio channel with the gateway's channel
  options, deadline and ``x-patron-tenant`` metadata, and answers from the response as the gateway
  does;
- ``echo``: the gRPC server those calls go to, in a process of its own, built like a service's
  (services/runtime/server.py: grpc.aio on uvloop, the runtime's ``RuntimeInterceptor`` — deadline
  and tenant required, errors mapped, calls measured — the same server options, health), answering
  each call with a fixed response without touching a database (RecordEvents: every event accepted).

The API key and tenant come from ``PATRON_BOUND_API_KEY`` and ``PATRON_BOUND_TENANT_ID`` (not the
command line, which any user of the machine can read).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import grpc
import uvicorn
import uvloop
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.batches import BatchRecorded
from gateway.gathered_calls import RECORD_DEADLINE_SECONDS
from gateway.routers.customers import attributes_to_proto
from gateway.routers.events import EVENTS, EventsIn
from gateway.schemas import IdentifyRequest, IdentifyResponse
from gateway.settings import GatewaySettings
from patron.profile.v1 import behaviour_pb2, behaviour_pb2_grpc, profile_pb2, profile_pb2_grpc
from services.runtime.interceptors import RuntimeInterceptor
from services.runtime.tenancy import TENANT_METADATA_KEY

API_KEY_ENV = "PATRON_BOUND_API_KEY"
TENANT_ENV = "PATRON_BOUND_TENANT_ID"
FIXED_CUSTOMER_ID = "00000000-0000-4000-8000-000000000001"
HOST = "127.0.0.1"
# The gateway's deadline for ordinary calls (its default PATRON_GATEWAY_RPC_TIMEOUT_SECONDS).
RPC_TIMEOUT_S = float(GatewaySettings.model_fields["rpc_timeout_seconds"].default)
# As gateway/clients.py opens its channels to the services.
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 0),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
]
# As services/runtime/server.py builds a service's server.
SERVER_OPTIONS = [
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    ("grpc.max_connection_age_ms", 300_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
]


@dataclass
class _Peer:
    """The echo server's stubs and the metadata every call carries (nodb-grpc only)."""

    channel: grpc.aio.Channel
    customers: Any  # profile_pb2_grpc.CustomerServiceStub (generated, untyped)
    behaviour: Any  # behaviour_pb2_grpc.BehaviourServiceStub
    metadata: tuple[tuple[str, str], ...]


def build_app(api_key: str, tenant_id: str, grpc_target: str | None) -> FastAPI:
    """The bound's app: nodb-http without ``grpc_target``, nodb-grpc with it."""
    expected = f"Bearer {api_key}".encode()
    peer: _Peer | None = None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal peer
        if grpc_target is None:
            yield
            return
        channel = grpc.aio.insecure_channel(grpc_target, options=CHANNEL_OPTIONS)
        peer = _Peer(
            channel,
            profile_pb2_grpc.CustomerServiceStub(channel),
            behaviour_pb2_grpc.BehaviourServiceStub(channel),
            ((TENANT_METADATA_KEY, tenant_id),),
        )
        try:
            yield
        finally:
            await channel.close()

    async def authenticated(request: Request) -> None:
        """The caller's key, compared with the bench tenant's (the gateway looks its hash up)."""
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise HTTPException(401, "invalid API key")

    caller = [Depends(authenticated)]  # as the gateway's routes carry their key check
    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    async def call(method: Any, request: Any, deadline_s: float) -> Any:
        try:
            return await method(request, timeout=deadline_s, metadata=cast(_Peer, peer).metadata)
        except grpc.aio.AioRpcError as error:
            raise HTTPException(503, f"echo answered {error.code().name}: {error.details()}") from None

    @app.post("/v1/customers/identify", response_model=IdentifyResponse, dependencies=caller)
    async def identify(body: IdentifyRequest) -> IdentifyResponse:
        if peer is None:
            return IdentifyResponse(
                customer_id=FIXED_CUSTOMER_ID, created=False, merged_customer_ids=[], unmerged_customer_ids=[]
            )
        request = profile_pb2.IdentifyRequest(
            identities=[i.to_proto() for i in body.identities],
            attributes=attributes_to_proto(body.attributes),
        )
        return IdentifyResponse.from_proto(await call(peer.customers.Identify, request, RPC_TIMEOUT_S))

    @app.post("/v1/events", response_model=BatchRecorded, dependencies=caller)
    async def record_events(body: EventsIn) -> BatchRecorded:
        raw = cast(list[object], body.events)
        batch = EVENTS.sort(raw)
        response = None
        if batch.sound and peer is None:
            response = _all_accepted(len(batch.sound))
        elif batch.sound and peer is not None:
            request = behaviour_pb2.RecordEventsRequest(events=[event.to_proto() for _, event in batch.sound])
            response = await call(peer.behaviour.RecordEvents, request, RECORD_DEADLINE_SECONDS)
        return EVENTS.answer(len(raw), batch, response)

    @app.get("/readyz")
    async def ready() -> JSONResponse:
        """200 when the bound can answer: at once for nodb-http, once the echo is SERVING for nodb-grpc."""
        if grpc_target is None:
            return JSONResponse({"status": "ready"})
        if peer is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            answer = await health_pb2_grpc.HealthStub(peer.channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=1.0
            )
        except grpc.aio.AioRpcError as error:
            return JSONResponse({"status": error.code().name}, status_code=503)
        serving = answer.status == health_pb2.HealthCheckResponse.SERVING
        return JSONResponse(
            {"status": "ready" if serving else "not serving"}, status_code=200 if serving else 503
        )

    return app


def _all_accepted(count: int) -> behaviour_pb2.RecordEventsResponse:
    """What the profile service answers when it stores every one of ``count`` events."""
    return behaviour_pb2.RecordEventsResponse(
        accepted=count, duplicates=0, outcomes=[behaviour_pb2.EVENT_OUTCOME_ACCEPTED] * count
    )


def serve_http(app: FastAPI, port: int) -> None:
    """Serve ``app`` as gateway/server.py serves the gateway, until SIGINT/SIGTERM."""
    config = uvicorn.Config(
        app,
        host=HOST,
        port=port,
        loop="none",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    uvloop.run(uvicorn.Server(config).serve())


class EchoCustomers(profile_pb2_grpc.CustomerServiceServicer):
    """CustomerService with Identify only: a fixed answer, no database."""

    async def Identify(  # noqa: N802 - the contract's name
        self, request: profile_pb2.IdentifyRequest, context: grpc.aio.ServicerContext
    ) -> profile_pb2.IdentifyResponse:
        return profile_pb2.IdentifyResponse(customer_id=FIXED_CUSTOMER_ID, created=False)


class EchoBehaviour(behaviour_pb2_grpc.BehaviourServiceServicer):
    """BehaviourService with RecordEvents only: every event accepted, nothing stored."""

    async def RecordEvents(  # noqa: N802 - the contract's name
        self, request: behaviour_pb2.RecordEventsRequest, context: grpc.aio.ServicerContext
    ) -> behaviour_pb2.RecordEventsResponse:
        return _all_accepted(len(request.events))


async def serve_echo(port: int) -> None:
    """Serve the echo services like a service's server until SIGINT/SIGTERM, then stop."""
    # Tracing's interceptor (services.runtime.telemetry) is left out: it is off unless an OTLP
    # endpoint is configured, and then a service has it too.
    server = grpc.aio.server(interceptors=[RuntimeInterceptor()], options=SERVER_OPTIONS)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    profile_pb2_grpc.add_CustomerServiceServicer_to_server(EchoCustomers(), server)
    behaviour_pb2_grpc.add_BehaviourServiceServicer_to_server(EchoBehaviour(), server)
    if server.add_insecure_port(f"{HOST}:{port}") == 0:
        sys.exit(f"bound echo: cannot bind {HOST}:{port}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(1.0)


def main(argv: list[str] | None = None) -> int:
    """``http --port N [--grpc-target HOST:PORT]`` or ``echo --port N``."""
    parser = argparse.ArgumentParser(prog="python -m bench._bound_apps", description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=("http", "echo"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--grpc-target", default=None, help="http: forward each call to this echo server")
    options = parser.parse_args(argv)
    if options.kind == "echo":
        uvloop.run(serve_echo(options.port))
        return 0
    api_key, tenant_id = os.environ.get(API_KEY_ENV, ""), os.environ.get(TENANT_ENV, "")
    if not api_key or not tenant_id:
        sys.exit(f"bound http: set {API_KEY_ENV} and {TENANT_ENV}")
    serve_http(build_app(api_key, tenant_id, options.grpc_target), options.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())

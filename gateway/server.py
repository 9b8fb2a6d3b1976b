"""The gateway process: uvicorn serving :func:`gateway.app.create_app`, traced and logged as JSON."""

from __future__ import annotations

import asyncio
import sys

import uvicorn
import uvloop
from fastapi import FastAPI
from pydantic import ValidationError

from gateway.app import create_app
from gateway.routers.operations import operations_app
from gateway.settings import GatewaySettings
from services.runtime.settings import RuntimeSettings
from services.runtime.startup_heap import freeze_startup_heap
from services.runtime.telemetry import setup_logging, setup_tracing, tracing_configured


def main() -> None:
    try:
        settings, runtime = GatewaySettings(), RuntimeSettings()
    except ValidationError as error:
        sys.exit(f"patron gateway: invalid configuration: {error}")
    setup_logging(runtime, "gateway")
    setup_tracing("gateway")
    try:
        app = create_app(settings, runtime)
    except ValueError as error:
        sys.exit(f"patron gateway: {error}")
    if tracing_configured():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    servers = [_server(app, settings, settings.port, "on")]
    if settings.operations_port:
        servers.append(_server(operations_app(app), settings, settings.operations_port, "off"))
    freeze_startup_heap()
    uvloop.run(_serve(servers))


def _server(app: FastAPI, settings: GatewaySettings, port: int, lifespan: str) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        loop="none",
        http="httptools",
        lifespan=lifespan,  # type: ignore[arg-type]
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    return uvicorn.Server(config)


async def _serve(servers: list[uvicorn.Server]) -> None:
    """Serve every port until a signal stops them (each server handles SIGINT/SIGTERM itself)."""
    await asyncio.gather(*(server.serve() for server in servers))

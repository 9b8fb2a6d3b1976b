"""The gateway process: uvicorn serving :func:`gateway.app.create_app`, traced and logged as JSON."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from gateway.app import create_app
from gateway.settings import GatewaySettings
from services.runtime.settings import RuntimeSettings
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
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )

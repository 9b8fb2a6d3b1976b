"""Traces, logs and metrics, set up the same way in every process.

Traces: OpenTelemetry, exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the standard
OpenTelemetry variables apply). Logs: one JSON object a line carrying the trace and span id.
Metrics: Prometheus, on the port a service is given.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import start_http_server

from services.runtime.settings import RuntimeSettings

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the active trace id so logs join traces."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            payload["trace_id"] = format(span_context.trace_id, "032x")
            payload["span_id"] = format(span_context.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def setup_logging(settings: RuntimeSettings, service: str) -> None:
    """Route every logger to stderr in the configured format."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())


def tracing_configured() -> bool:
    """Whether traces have somewhere to go (the standard OTLP endpoint variables)."""
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def tracing_active() -> bool:
    """Whether spans are recorded in this process: a real tracer provider is installed (by
    :func:`setup_tracing`, or by a test collecting spans in memory)."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def grpc_client_interceptors() -> list[Any] | None:
    """The OpenTelemetry client interceptors while tracing is active, else none.

    An interceptor on a grpc.aio channel sends every call down the intercepted path, which cost the
    gateway about a sixth of its CPU per call with nothing recording (py-spy; docs/performance.md).
    Decided when the channel is built, so a process sets up tracing before it opens channels.
    """
    if not tracing_active():
        return None
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors())


def grpc_server_interceptors() -> list[Any]:
    """The OpenTelemetry server interceptor while tracing is active, else none (as for clients)."""
    if not tracing_active():
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]


def setup_tracing(service: str) -> None:
    """Record and export traces of ``patron-<service>`` over OTLP, when an endpoint is configured.

    Without one the no-op provider stays: spans would be recorded only to be dropped, which costs a
    fifth of the gateway's CPU; and the gRPC interceptors are left out (:func:`grpc_client_interceptors`).
    """
    if not tracing_configured():
        return
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    provider = TracerProvider(resource=Resource.create({"service.name": f"patron-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument()


def start_metrics_server(port: int) -> None:
    """Serve Prometheus metrics on ``port`` (0: do not serve)."""
    if port:
        start_http_server(port)

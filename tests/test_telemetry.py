"""Traces cross gateway → service; logs carry the trace id."""

import json
import logging

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.runtime.telemetry import JsonFormatter
from tests.conftest import TenantKey

_exporter = InMemorySpanExporter()


def _install_provider() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    trace.set_tracer_provider(provider)


_install_provider()


async def test_a_gateway_call_and_the_service_call_share_one_trace(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    _exporter.clear()
    response = await api.post(
        "/v1/customers/identify",
        json={"identities": [{"type": "app_user_id", "value": "traced"}]},
        headers=tenant.headers,
    )
    assert response.status_code == 200
    spans = _exporter.get_finished_spans()
    method = "/patron.profile.v1.CustomerService/Identify"
    client = next(s for s in spans if s.kind == SpanKind.CLIENT and s.name == method)
    server = next(s for s in spans if s.kind == SpanKind.SERVER and s.name == method)
    assert server.context.trace_id == client.context.trace_id
    assert server.parent is not None
    assert server.parent.span_id == client.context.span_id


def test_json_logs_carry_the_trace_id() -> None:
    formatter = JsonFormatter("profile")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
        line = json.loads(formatter.format(record))
    assert line["message"] == "hello world"
    assert line["service"] == "profile"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")

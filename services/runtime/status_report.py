"""``patron status``: each service's health, each producer's heads and every consumer's lag.

The report is collected over gRPC (``status_collect``), held in dataclasses (``status_model``) and
rendered here as text tables or as one JSON object. The exit code is 1 whenever the report lists a
problem: a service not serving, a status not read, a partition behind retention, a parked event.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TextIO

from services.runtime.grpc_tls import GrpcTls, load_grpc_tls
from services.runtime.plugins import default_grpc_port
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings
from services.runtime.status_collect import DEADLINE_SECONDS, collect
from services.runtime.status_model import (
    SERVING,
    ConsumerStatus,
    PartitionStatus,
    ProducerHeads,
    ServiceStatus,
    StatusReport,
)

__all__ = [
    "DEADLINE_SECONDS",
    "SERVING",
    "ConsumerStatus",
    "PartitionStatus",
    "ProducerHeads",
    "ServiceStatus",
    "StatusReport",
    "collect",
    "render_json",
    "render_text",
    "report_status",
    "resolve_addresses",
    "run",
]


# ---- addresses ----


def default_address(service: str) -> str:
    """``127.0.0.1:<the service's default gRPC port>``."""
    return f"127.0.0.1:{default_grpc_port(service)}"


def resolve_addresses(overrides: Mapping[str, str | None], environ: Mapping[str, str]) -> dict[str, str]:
    """Each service's address: the option, else ``PATRON_GATEWAY_<SERVICE>_ADDRESS``, else
    ``127.0.0.1:$PATRON_<SERVICE>_GRPC_PORT`` (the variable ``patron up`` reads), else the default."""

    def local(service: str) -> str | None:
        port = environ.get(f"PATRON_{service.upper()}_GRPC_PORT", "").strip()
        return f"127.0.0.1:{port}" if port else None

    return {
        service: overrides.get(service)
        or environ.get(f"PATRON_GATEWAY_{service.upper()}_ADDRESS")
        or local(service)
        or default_address(service)
        for service in SERVICE_NAMES
    }


def invalid_addresses(overrides: Mapping[str, str | None]) -> list[str]:
    """The ``--<service>-address`` options given but unusable (empty or containing whitespace)."""
    return [
        f"--{service}-address {value!r}"
        for service, value in overrides.items()
        if value is not None and (not value or any(c.isspace() for c in value))
    ]


# ---- rendering ----


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _producer_cell(heads: ProducerHeads | None) -> str:
    if heads is None:
        return "-"
    return f"{heads.partition_count} partitions, head {heads.total_head}, pruned {heads.pruned_through}"


def _services_table(services: Sequence[ServiceStatus]) -> str:
    rows = [
        [s.name, s.address, s.health, _producer_cell(s.producer), "; ".join(s.problems) or "-"]
        for s in services
    ]
    return _table(["SERVICE", "ADDRESS", "HEALTH", "PRODUCER", "PROBLEMS"], rows)


def _consumers_table(consumers: Sequence[ConsumerStatus]) -> str:
    rows = [
        [
            c.consumer,
            c.service,
            c.producer,
            f"{c.partitions_owned}/{len(c.partitions)}",
            f"{c.position}/{c.head}",
            f"{c.lag_events}/{c.max_lag_events}",
            f"{c.max_lag_seconds:.1f}",
            str(c.parked),
            ", ".join(f"{d.work} {d.pending} ({d.oldest_seconds:.1f} s)" for d in c.deferred) or "-",
            ",".join(map(str, c.behind_retention)) or "-",
            ",".join(c.owners) or "-",
        ]
        for c in consumers
    ]
    headers = [
        "CONSUMER",
        "SERVICE",
        "PRODUCER",
        "OWNED/TOTAL",
        "POSITION/HEAD",
        "LAG SUM/MAX",
        "LAG S",
        "PARKED",
        "DEFERRED",
        "BEHIND RETENTION",
        "OWNERS",
    ]
    return _table(headers, rows)


def _last_errors(consumers: Sequence[ConsumerStatus]) -> list[str]:
    return [
        f"  {c.consumer} partition {p.partition}: {p.last_error}"
        for c in consumers
        for p in c.partitions
        if p.last_error
    ]


def render_text(report: StatusReport) -> str:
    """The report as tables for a person: services, then consumers, then a verdict line."""
    parts = [_services_table(report.services), ""]
    if report.consumers:
        parts.append(_consumers_table(report.consumers))
    else:
        parts.append("no consumers reported")
    errors = _last_errors(report.consumers)
    if errors:
        parts += ["", "last errors:", *errors]
    if report.problems:
        parts += ["", "problems:", *(f"  {problem}" for problem in report.problems)]
    parts += ["", f"status: {'OK' if report.ok else 'PROBLEMS'}"]
    return "\n".join(parts)


def _consumer_json(consumer: ConsumerStatus) -> dict[str, object]:
    return {
        "consumer": consumer.consumer,
        "service": consumer.service,
        "producer": consumer.producer,
        "partitions_owned": consumer.partitions_owned,
        "partitions_total": len(consumer.partitions),
        "position": consumer.position,
        "head": consumer.head,
        "lag_events": consumer.lag_events,
        "max_lag_events": consumer.max_lag_events,
        "max_lag_seconds": consumer.max_lag_seconds,
        "parked": consumer.parked,
        "deferred": [asdict(d) for d in consumer.deferred],
        "behind_retention_partitions": list(consumer.behind_retention),
        "owners": list(consumer.owners),
        "partitions": [asdict(p) for p in consumer.partitions],
    }


def report_json(report: StatusReport) -> dict[str, object]:
    """The report as a JSON-ready object: ``ok``, ``services`` and ``consumers``."""
    return {
        "ok": report.ok,
        "problems": list(report.problems),
        "services": [asdict(s) for s in report.services],
        "consumers": [_consumer_json(c) for c in report.consumers],
    }


def render_json(report: StatusReport) -> str:
    """The report as one JSON object (see :func:`report_json`)."""
    return json.dumps(report_json(report), indent=2, sort_keys=True)


# ---- the command ----


async def report_status(
    addresses: Mapping[str, str], *, as_json: bool, out: TextIO, tls: GrpcTls | None = None
) -> int:
    """Collect, print the text or JSON rendering to ``out``, and return the exit code."""
    report = await collect(addresses, tls=tls)
    print(render_json(report) if as_json else render_text(report), file=out, flush=True)
    return report.exit_code


def run(overrides: Mapping[str, str | None], *, as_json: bool) -> int:
    """Entry of ``patron status``: resolve addresses from options and environment, report, exit code.

    Returns 0 when everything is fine, 1 when something is not (see :attr:`StatusReport.ok`), and 2
    when an address option or the TLS configuration (``PATRON_GRPC_TLS_*``) is unusable.
    """
    invalid = invalid_addresses(overrides)
    if invalid:
        print(f"patron status: not a gRPC address (HOST:PORT): {', '.join(invalid)}", file=sys.stderr)
        return 2
    try:
        tls = load_grpc_tls(RuntimeSettings())
    except ValueError as error:
        print(f"patron status: {error}", file=sys.stderr)
        return 2
    addresses = resolve_addresses(overrides, os.environ)
    return asyncio.run(report_status(addresses, as_json=as_json, out=sys.stdout, tls=tls))

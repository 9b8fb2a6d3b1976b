"""``patron status``: each service's health, each producer's heads and every consumer's lag.

The report is collected over gRPC (``grpc.health.v1.Health/Check``,
``patron.events.v1.ConsumerStatus/GetConsumerStatus`` and ``patron.events.v1.EventStream/GetHeads``,
each with a deadline), held in dataclasses, and rendered as text tables or as one JSON object.
A service that does not serve ConsumerStatus or EventStream answers UNIMPLEMENTED: it simply has no
consumers, or is not a producer.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from services.runtime.plugins import default_grpc_port
from services.runtime.settings import SERVICE_NAMES

DEADLINE_SECONDS = 2.0
SERVING = "SERVING"

Response = TypeVar("Response")


@dataclass(frozen=True)
class ProducerHeads:
    """What a producing service's ``GetHeads`` says about its outbox."""

    partition_count: int
    total_head: int  # sum of the partitions' heads: every event ever sequenced
    pruned_through: int  # sum of the partitions' pruned_through: events removed by retention


@dataclass(frozen=True)
class ServiceStatus:
    """One service: where it was asked, its health, and what went wrong asking it."""

    name: str
    address: str
    health: str  # SERVING, NOT_SERVING, or the gRPC error code (UNAVAILABLE, DEADLINE_EXCEEDED, ...)
    producer: ProducerHeads | None
    problems: tuple[str, ...] = ()  # failed status calls other than UNIMPLEMENTED, e.g. "GetHeads: ..."


@dataclass(frozen=True)
class PartitionStatus:
    """One consumer partition, as the consuming service reports it."""

    partition: int
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    owner: str
    parked: int
    behind_retention: bool
    last_error: str


@dataclass(frozen=True)
class ConsumerStatus:
    """One consumer (in the service that runs it) with its partitions and their totals."""

    consumer: str
    service: str
    producer: str
    partitions: tuple[PartitionStatus, ...]

    @property
    def partitions_owned(self) -> int:
        return sum(1 for p in self.partitions if p.owner)

    @property
    def position(self) -> int:
        return sum(p.position for p in self.partitions)

    @property
    def head(self) -> int:
        return sum(p.head for p in self.partitions)

    @property
    def lag_events(self) -> int:
        return sum(p.lag_events for p in self.partitions)

    @property
    def max_lag_events(self) -> int:
        return max((p.lag_events for p in self.partitions), default=0)

    @property
    def max_lag_seconds(self) -> float:
        return max((p.lag_seconds for p in self.partitions), default=0.0)

    @property
    def parked(self) -> int:
        return sum(p.parked for p in self.partitions)

    @property
    def behind_retention(self) -> tuple[int, ...]:
        return tuple(p.partition for p in self.partitions if p.behind_retention)

    @property
    def owners(self) -> tuple[str, ...]:
        return tuple(sorted({p.owner for p in self.partitions if p.owner}))


@dataclass(frozen=True)
class StatusReport:
    """Everything ``patron status`` found."""

    services: tuple[ServiceStatus, ...]
    consumers: tuple[ConsumerStatus, ...]

    @property
    def ok(self) -> bool:
        """Every service SERVING, every status read, and no consumer partition behind retention."""
        return all(s.health == SERVING and not s.problems for s in self.services) and not any(
            c.behind_retention for c in self.consumers
        )

    @property
    def exit_code(self) -> int:
        """0 when :attr:`ok`, else 1."""
        return 0 if self.ok else 1


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


# ---- collecting ----


class _Unimplemented(Exception):
    """The service does not serve the method."""


async def _call(
    method: Callable[..., Awaitable[Response]], request: object, deadline_seconds: float
) -> Response:
    """``method(request)`` with a deadline; UNIMPLEMENTED becomes :class:`_Unimplemented`."""
    try:
        return await method(request, timeout=deadline_seconds)
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNIMPLEMENTED:
            raise _Unimplemented from error
        raise


def _error_name(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        name: str = error.code().name
        return name
    return type(error).__name__


async def _health(channel: grpc.aio.Channel, deadline_seconds: float) -> str:
    """The overall health (service "") by name, or the error code's name when the call fails."""
    try:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=deadline_seconds
        )
    except grpc.aio.AioRpcError as error:
        return _error_name(error)
    name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return name


async def _heads(channel: grpc.aio.Channel, deadline_seconds: float) -> ProducerHeads | None:
    """The producer's heads summed, or None when the service is not a producer."""
    stub = envelope_pb2_grpc.EventStreamStub(channel)
    try:
        response = await _call(stub.GetHeads, envelope_pb2.GetHeadsRequest(), deadline_seconds)
    except _Unimplemented:
        return None
    return ProducerHeads(
        partition_count=response.partition_count,
        total_head=sum(p.head for p in response.partitions),
        pruned_through=sum(p.pruned_through for p in response.partitions),
    )


async def _consumers(
    channel: grpc.aio.Channel, service: str, deadline_seconds: float
) -> list[ConsumerStatus]:
    """The service's consumers, grouped from its partition rows; none when it has no ConsumerStatus."""
    stub = envelope_pb2_grpc.ConsumerStatusStub(channel)
    try:
        response = await _call(
            stub.GetConsumerStatus, envelope_pb2.GetConsumerStatusRequest(), deadline_seconds
        )
    except _Unimplemented:
        return []
    return _group_partitions(service, response.partitions)


def _group_partitions(service: str, rows: Iterable[Any]) -> list[ConsumerStatus]:
    """``ConsumerPartitionStatus`` messages grouped into one :class:`ConsumerStatus` per consumer."""
    grouped: dict[tuple[str, str], list[PartitionStatus]] = {}
    for row in rows:
        grouped.setdefault((row.consumer, row.producer), []).append(
            PartitionStatus(
                partition=row.partition,
                position=row.position,
                head=row.head,
                lag_events=row.lag_events,
                lag_seconds=row.lag_seconds,
                owner=row.owner,
                parked=row.parked,
                behind_retention=row.behind_retention,
                last_error=row.last_error,
            )
        )
    return [
        ConsumerStatus(consumer, service, producer, tuple(sorted(parts, key=lambda p: p.partition)))
        for (consumer, producer), parts in sorted(grouped.items())
    ]


async def _collect_service(
    service: str, address: str, deadline_seconds: float
) -> tuple[ServiceStatus, list[ConsumerStatus]]:
    """Health, heads and consumers of one service, asked concurrently over one channel."""
    async with grpc.aio.insecure_channel(address) as channel:
        health, heads, consumers = await asyncio.gather(
            _health(channel, deadline_seconds),
            _heads(channel, deadline_seconds),
            _consumers(channel, service, deadline_seconds),
            return_exceptions=True,
        )
    problems: list[str] = []
    if isinstance(heads, BaseException):
        problems.append(f"GetHeads: {_error_name(heads)}")
        heads = None
    if isinstance(consumers, BaseException):
        problems.append(f"GetConsumerStatus: {_error_name(consumers)}")
        consumers = []
    if isinstance(health, BaseException):  # _health maps RPC errors; anything else is unexpected
        health = _error_name(health)
    return ServiceStatus(service, address, health, heads, tuple(problems)), consumers


async def collect(addresses: Mapping[str, str], deadline_seconds: float = DEADLINE_SECONDS) -> StatusReport:
    """Ask every service in ``addresses`` (name → gRPC address) for its status, all at once."""
    results = await asyncio.gather(
        *(_collect_service(name, address, deadline_seconds) for name, address in addresses.items())
    )
    return StatusReport(
        services=tuple(service for service, _ in results),
        consumers=tuple(consumer for _, consumers in results for consumer in consumers),
    )


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
        "behind_retention_partitions": list(consumer.behind_retention),
        "owners": list(consumer.owners),
        "partitions": [asdict(p) for p in consumer.partitions],
    }


def report_json(report: StatusReport) -> dict[str, object]:
    """The report as a JSON-ready object: ``ok``, ``services`` and ``consumers``."""
    return {
        "ok": report.ok,
        "services": [asdict(s) for s in report.services],
        "consumers": [_consumer_json(c) for c in report.consumers],
    }


def render_json(report: StatusReport) -> str:
    """The report as one JSON object (see :func:`report_json`)."""
    return json.dumps(report_json(report), indent=2, sort_keys=True)


# ---- the command ----


async def report_status(addresses: Mapping[str, str], *, as_json: bool, out: TextIO) -> int:
    """Collect, print the text or JSON rendering to ``out``, and return the exit code."""
    report = await collect(addresses)
    print(render_json(report) if as_json else render_text(report), file=out, flush=True)
    return report.exit_code


def run(overrides: Mapping[str, str | None], *, as_json: bool) -> int:
    """Entry of ``patron status``: resolve addresses from options and environment, report, exit code.

    Returns 0 when everything is fine, 1 when something is not (see :attr:`StatusReport.ok`), and 2
    when an address option is unusable.
    """
    invalid = invalid_addresses(overrides)
    if invalid:
        print(f"patron status: not a gRPC address (HOST:PORT): {', '.join(invalid)}", file=sys.stderr)
        return 2
    addresses = resolve_addresses(overrides, os.environ)
    return asyncio.run(report_status(addresses, as_json=as_json, out=sys.stdout))

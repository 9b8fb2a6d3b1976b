"""Collecting ``patron status`` over gRPC: health, producers' heads and consumers' partitions.

Each call has a deadline (``grpc.health.v1.Health/Check``,
``patron.events.v1.ConsumerStatus/GetConsumerStatus``, ``patron.events.v1.EventStream/GetHeads``).
A service that does not serve ConsumerStatus or EventStream answers UNIMPLEMENTED: it simply has no
consumers, or is not a producer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from services.runtime.grpc_tls import GrpcTls, client_channel
from services.runtime.status_model import (
    ConsumerStatus,
    DeferredWork,
    PartitionStatus,
    ProducerHeads,
    ServiceStatus,
    StatusReport,
)

DEADLINE_SECONDS = 2.0

Response = TypeVar("Response")


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
    return _group_partitions(service, response.partitions, response.deferred)


def _group_partitions(
    service: str, rows: Iterable[Any], deferred: Iterable[Any] = ()
) -> list[ConsumerStatus]:
    """``ConsumerPartitionStatus`` messages grouped into one :class:`ConsumerStatus` per consumer,
    each with its ``ConsumerDeferredWork``."""
    waiting: dict[str, list[DeferredWork]] = {}
    for item in deferred:
        waiting.setdefault(item.consumer, []).append(
            DeferredWork(work=item.work, pending=item.pending, oldest_seconds=item.oldest_seconds)
        )
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
        ConsumerStatus(
            consumer,
            service,
            producer,
            tuple(sorted(parts, key=lambda p: p.partition)),
            tuple(waiting.get(consumer, ())),
        )
        for (consumer, producer), parts in sorted(grouped.items())
    ]


async def _collect_service(
    service: str, address: str, deadline_seconds: float, tls: GrpcTls | None
) -> tuple[ServiceStatus, list[ConsumerStatus]]:
    """Health, heads and consumers of one service, asked concurrently over one channel."""
    async with client_channel(address, tls) as channel:
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


async def collect(
    addresses: Mapping[str, str], deadline_seconds: float = DEADLINE_SECONDS, tls: GrpcTls | None = None
) -> StatusReport:
    """Ask every service in ``addresses`` (name → gRPC address) for its status, all at once, over
    TLS with ``tls`` (``PATRON_GRPC_TLS_*``)."""
    results = await asyncio.gather(
        *(_collect_service(name, address, deadline_seconds, tls) for name, address in addresses.items())
    )
    return StatusReport(
        services=tuple(service for service, _ in results),
        consumers=tuple(consumer for _, consumers in results for consumer in consumers),
    )

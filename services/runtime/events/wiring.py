"""Turning a service into a producer or a consumer: what it serves and what runs in the background."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa

from services.runtime.database import Database
from services.runtime.events.consumer import ConsumerRunner, ConsumerSpec
from services.runtime.events.outbox import Outbox
from services.runtime.events.parked import ParkedEvents
from services.runtime.events.sequencer import Sequencer
from services.runtime.events.signals import OUTBOX_CHANNEL, SEQUENCED_CHANNEL, Listener, asyncpg_dsn
from services.runtime.events.status import STATUS_METHODS, ConsumerStatusServicer, status_registration
from services.runtime.events.stream import STREAM_METHODS, EventStreamServicer, stream_registration
from services.runtime.events.tables import DEFAULT_PARTITIONS
from services.runtime.grpc_tls import peer_channel
from services.runtime.server import BackgroundTask, Registration, ServiceServer
from services.runtime.settings import RuntimeSettings, ServiceSettings


@dataclass
class Producer:
    """A producing service's outbox, stream servicer and background tasks."""

    outbox: Outbox
    registrations: list[Registration]
    background: list[BackgroundTask] = field(default_factory=list)
    tenant_exempt_methods: frozenset[str] = STREAM_METHODS


def make_producer(
    name: str,
    database: Database,
    settings: ServiceSettings,
    outbox_table: sa.Table,
    *,
    partitions: int = DEFAULT_PARTITIONS,
) -> Producer:
    """Outbox + sequencer + stream for ``name``; the caller serves the registrations and tasks."""
    listener = Listener(asyncpg_dsn(settings.database_url), [OUTBOX_CHANNEL, SEQUENCED_CHANNEL])
    sequencer = Sequencer(name, database, listener, retention=timedelta(days=settings.event_retention_days))
    servicer = EventStreamServicer(name, database, listener, partitions)

    async def listen(_: ServiceServer) -> None:
        await listener.run()

    async def sequence(_: ServiceServer) -> None:
        await sequencer.run()

    return Producer(
        outbox=Outbox(name, outbox_table, partitions, wake=listener.signals[OUTBOX_CHANNEL].fire),
        registrations=[stream_registration(servicer)],
        background=[listen, sequence],
    )


def make_consumers(
    database: Database,
    settings: ServiceSettings,
    tables: tuple[sa.Table, sa.Table, sa.Table],
    specs: list[ConsumerSpec],
    runtime: RuntimeSettings,
) -> tuple[list[Registration], list[BackgroundTask], frozenset[str]]:
    """Background runners for ``specs`` and the ConsumerStatus servicer of this service; each
    runner reads its producer's stream over a channel of ``runtime``'s transport (TLS or not)."""
    tasks: list[BackgroundTask] = []
    for spec in specs:

        async def consume(server: ServiceServer, spec: ConsumerSpec = spec) -> None:
            channel = peer_channel(settings, spec.producer, runtime)
            try:
                runner = ConsumerRunner(
                    spec, database, tables, channel, on_health=server.set_component_health
                )
                await runner.run()
            finally:
                await channel.close()

        tasks.append(consume)
    parked = ParkedEvents(database, tables[2], {spec.name: spec for spec in specs})

    async def prune_parked(_: ServiceServer) -> None:
        await parked.prune_forever(timedelta(days=settings.parked_retention_days))

    tasks.append(prune_parked)
    servicer = ConsumerStatusServicer(database, tables[0], tables[2], parked, specs)
    return [status_registration(servicer)], tasks, STATUS_METHODS

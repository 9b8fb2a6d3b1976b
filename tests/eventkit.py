"""A small producer and consumer built on the shared event runtime, for the backbone's own tests.

Run as a module it is a process the tests can SIGKILL:
  python -m tests.eventkit consume URL PRODUCER_ADDRESS NAME   applies events into `effects`
  python -m tests.eventkit hang URL COUNT    appends COUNT events, then hangs inside the transaction
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import timedelta

import asyncpg
import grpc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2, profile_events_pb2
from services.runtime.database import Database, create_engine
from services.runtime.events.consumer import BatchHandler, ConsumerRunner, ConsumerSpec, Handler
from services.runtime.events.outbox import NewEvent, Outbox, partition_of
from services.runtime.events.sequencer import Sequencer
from services.runtime.events.signals import OUTBOX_CHANNEL, SEQUENCED_CHANNEL, Listener, asyncpg_dsn
from services.runtime.events.stream import STREAM_METHODS, EventStreamServicer, stream_registration
from services.runtime.events.tables import consumer_tables, producer_tables
from services.runtime.server import ServiceServer
from services.runtime.settings import asyncpg_url

PARTITIONS = 4

metadata = sa.MetaData()
outbox, heads = producer_tables(metadata)
positions, members, parked = consumer_tables(metadata)
effects = sa.Table(
    "effects",
    metadata,
    sa.Column("applied_seq", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False),  # deliberately not unique
    sa.Column("customer_id", pg.UUID(as_uuid=True)),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("applied_by", sa.Text, nullable=False),
)
CONSUMER_TABLES = (positions, members, parked)


async def create_schema(url: str, partitions: int = PARTITIONS) -> None:
    engine = create_engine(url, application_name="eventkit")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(
            sa.text("INSERT INTO outbox_heads (partition) SELECT generate_series(0, :n - 1)"),
            {"n": partitions},
        )
    await engine.dispose()


def database(url: str) -> Database:
    return Database(create_engine(url, application_name="eventkit", pool_size=5))


def customer_in_partition(partition: int, partitions: int = PARTITIONS) -> uuid.UUID:
    while True:
        candidate = uuid.uuid4()
        if partition_of(candidate, partitions) == partition:
            return candidate


def sample_event(tenant: uuid.UUID, customer: uuid.UUID, label: str = "") -> NewEvent:
    payload = profile_events_pb2.CustomerUpdated(changed_attributes=[label] if label else [])
    return NewEvent(tenant, "customer.updated", customer, payload)


def producer_server(
    url: str, *, retention: timedelta = timedelta(days=7), heartbeat_seconds: float = 0.5
) -> tuple[ServiceServer, Outbox, Sequencer]:
    """A gRPC server with the event stream, listener and sequencer over the eventkit database."""
    db = database(url)
    listener = Listener(asyncpg_dsn(asyncpg_url(url)), [OUTBOX_CHANNEL, SEQUENCED_CHANNEL])
    sequencer = Sequencer(
        "eventkit",
        db,
        listener,
        retention=retention,
        prune_every_seconds=3600,
        vacuum_queue_every_seconds=3600,
    )
    servicer = EventStreamServicer("eventkit", db, listener, PARTITIONS, heartbeat_seconds=heartbeat_seconds)

    async def listen(_: ServiceServer) -> None:
        await listener.run()

    async def sequence(_: ServiceServer) -> None:
        await sequencer.run()

    server = ServiceServer(
        name="eventkit",
        database=db,
        registrations=[stream_registration(servicer)],
        tenant_exempt_methods=STREAM_METHODS,
        host="127.0.0.1",
        port=0,
        db_check_interval=0.2,
        background=[listen, sequence],
    )
    return (
        server,
        Outbox("eventkit", outbox, PARTITIONS, wake=listener.signals[OUTBOX_CHANNEL].fire),
        sequencer,
    )


def recording_handler(member: str) -> Handler:
    async def record(connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        await connection.execute(
            sa.insert(effects).values(
                event_id=uuid.UUID(envelope.event_id),
                customer_id=uuid.UUID(envelope.customer_id) if envelope.customer_id else None,
                position=envelope.position,
                applied_by=member,
            )
        )

    return record


def recording_batch_handler(member: str, calls: list[int]) -> BatchHandler:
    """Records a run of events in one multi-row insert; ``calls`` gets each run's length."""

    async def record(connection: AsyncConnection, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        calls.append(len(envelopes))
        await connection.execute(
            sa.insert(effects),
            [
                {
                    "event_id": uuid.UUID(e.event_id),
                    "customer_id": uuid.UUID(e.customer_id) if e.customer_id else None,
                    "position": e.position,
                    "applied_by": member,
                }
                for e in envelopes
            ],
        )

    return record


def consumer(
    url: str,
    address: str,
    name: str,
    handler: Handler,
    *,
    lease_seconds: float = 1.0,
    member: str | None = None,
    batch_handler: BatchHandler | None = None,
    after_apply: BatchHandler | None = None,
) -> tuple[ConsumerRunner, grpc.aio.Channel]:
    channel = grpc.aio.insecure_channel(address)
    spec = ConsumerSpec(
        name=name,
        producer="eventkit",
        handlers={"customer.updated": handler},
        batch_handlers={"customer.updated": batch_handler} if batch_handler else {},
        lease_seconds=lease_seconds,
        max_attempts=3,
        retry_backoff_seconds=0.05,
        after_apply=after_apply,
    )
    return ConsumerRunner(spec, database(url), CONSUMER_TABLES, channel, member_id=member), channel


async def _consume_forever(url: str, address: str, name: str) -> None:
    member = f"proc-{os.getpid()}"
    runner, _ = consumer(url, address, name, recording_handler(member), member=member)
    print("consuming", flush=True)
    await runner.run()


async def _hang(url: str, count: int) -> None:
    """Append events inside a transaction that never commits (the test SIGKILLs this process)."""
    db = database(url)
    box = Outbox("eventkit", outbox, PARTITIONS)
    tenant = uuid.uuid4()
    async with db.transaction() as connection:
        events = [sample_event(tenant, uuid.uuid4(), "doomed") for _ in range(count)]
        await box.append(connection, events)
        print("ids", ",".join(str(e.event_id) for e in events), flush=True)
        await asyncio.sleep(3600)


async def count_effects(url: str) -> dict[uuid.UUID, int]:
    connection = await asyncpg.connect(asyncpg_dsn(asyncpg_url(url)))
    try:
        rows = await connection.fetch("SELECT event_id, count(*) AS n FROM effects GROUP BY event_id")
    finally:
        await connection.close()
    return {row["event_id"]: row["n"] for row in rows}


if __name__ == "__main__":
    command, url, *rest = sys.argv[1:]
    if command == "consume":
        asyncio.run(_consume_forever(url, rest[0], rest[1]))
    elif command == "hang":
        asyncio.run(_hang(url, int(rest[0])))
    else:
        sys.exit(f"unknown command {command}")

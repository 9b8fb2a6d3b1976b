"""The backbone under test for ``bench.events``: scratch database, producer and consumer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import grpc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench._common import BenchError
from patron.events.v1 import envelope_pb2, profile_events_pb2
from services.runtime.database import Database, create_engine
from services.runtime.events.consumer import BatchHandler, ConsumerRunner, ConsumerSpec, Handler
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.events.sequencer import Sequencer
from services.runtime.events.signals import OUTBOX_CHANNEL, SEQUENCED_CHANNEL, Listener, asyncpg_dsn
from services.runtime.events.stream import STREAM_METHODS, EventStreamServicer, stream_registration
from services.runtime.events.tables import DEFAULT_PARTITIONS, consumer_tables, producer_tables
from services.runtime.server import ServiceServer
from services.runtime.settings import asyncpg_url
from services.runtime.telemetry import grpc_client_interceptors

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET = {"p99_ms": 250, "at_rate": 2000}
PARTITIONS = DEFAULT_PARTITIONS
PRODUCER = "bench-producer"
CONSUMER = "bench-consumer"
EVENT_TYPE = "customer.updated"
PAYLOAD = profile_events_pb2.CustomerUpdated(changed_attributes=["tags"])
TICK_S = 0.01  # the offered load commits one transaction per tick
MAX_IN_FLIGHT = 8  # offered-load transactions in flight at once (a slow commit must not stall the clock)
POLL_S = 0.02  # how often the bench looks at the consumer's positions
READY_TIMEOUT_S = 30.0
CONSUMER_COMMAND = "_consume"  # hidden sub-command: the consumer of --consumer-process
CONSUMER_URL_ENV = "PATRON_BENCH_EVENTS_URL"  # the scratch URL, passed to the child off the command line
REPO_ROOT = Path(__file__).resolve().parent.parent

metadata = sa.MetaData()
OUTBOX, _ = producer_tables(metadata)
CONSUMER_TABLES = consumer_tables(metadata)
EFFECTS = sa.Table(
    "bench_effects",
    metadata,
    sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False),  # not unique: duplicates are counted
    sa.Column("handled_at", sa.Double, nullable=False),  # time.time() inside the handler
)
_INSERT_EFFECT = sa.insert(EFFECTS)
APPLIED_EFFECTS_SQL = sa.text("SELECT coalesce(sum(position), 0) FROM consumer_positions WHERE consumer = :c")
OWNED_PARTITIONS_SQL = sa.text(
    "SELECT count(*) FROM consumer_positions WHERE consumer = :c AND owner IS NOT NULL"
)


# --- the scratch database -------------------------------------------------------------------------


def scratch_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url`` (SQLAlchemy asyncpg form)."""
    return make_url(asyncpg_url(server_url)).set(database=name).render_as_string(hide_password=False)


async def _admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(asyncpg_url(server_url)), timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(server_url: str) -> str:
    """Create ``patron_bench_events_<random>`` and return its name."""
    name = f"patron_bench_events_{uuid.uuid4().hex[:10]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    return name


async def drop_database(server_url: str, name: str) -> None:
    """Drop the scratch database, closing whatever still connects to it."""
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def create_schema(url: str) -> None:
    """The runtime's producer and consumer tables, ``bench_effects``, and one head per partition."""
    engine = create_engine(url, application_name="bench-events-schema", pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            await connection.execute(
                sa.text("INSERT INTO outbox_heads (partition) SELECT generate_series(0, :n - 1)"),
                {"n": PARTITIONS},
            )
    finally:
        await engine.dispose()


# --- producer side --------------------------------------------------------------------------------


def producer_server(url: str) -> tuple[ServiceServer, Callable[[], None]]:
    """The event stream with its listener and sequencer, wired as ``wiring.make_producer`` does;
    also the wake-up an outbox in this process gives its sequencer after a commit."""
    database = Database(create_engine(url, application_name="bench-stream", pool_size=20, max_overflow=0))
    listener = Listener(asyncpg_dsn(asyncpg_url(url)), [OUTBOX_CHANNEL, SEQUENCED_CHANNEL])
    sequencer = Sequencer(PRODUCER, database, listener)
    servicer = EventStreamServicer(PRODUCER, database, listener, PARTITIONS)

    async def listen(_: ServiceServer) -> None:
        await listener.run()

    async def sequence(_: ServiceServer) -> None:
        await sequencer.run()

    server = ServiceServer(
        name=PRODUCER,
        database=database,
        registrations=[stream_registration(servicer)],
        tenant_exempt_methods=STREAM_METHODS,
        host="127.0.0.1",
        port=0,
        background=[listen, sequence],
    )
    return server, listener.signals[OUTBOX_CHANNEL].fire


@dataclass(frozen=True)
class Batch:
    """One committed producer transaction: its phase, when its COMMIT returned, and its events."""

    phase: str
    committed_at: float
    event_ids: list[str]


class LoadProducer:
    """Commits ``customer.updated`` events through the outbox and remembers when each committed."""

    def __init__(
        self, database: Database, wake: Callable[[], None], customers: int, rng: random.Random
    ) -> None:
        self._database = database
        self._outbox = Outbox(PRODUCER, OUTBOX, PARTITIONS, wake=wake)
        self._rng = rng
        self._tenant = uuid.UUID(int=rng.getrandbits(128), version=4)
        self._customers = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(customers)]
        self.batches: list[Batch] = []
        self.total = 0

    async def commit(self, count: int, phase: str) -> None:
        """Append ``count`` events in one transaction; record the time right after the COMMIT."""
        events = [
            NewEvent(self._tenant, EVENT_TYPE, self._rng.choice(self._customers), PAYLOAD)
            for _ in range(count)
        ]
        async with self._database.transaction() as connection:
            await self._outbox.append(connection, events)
        self.batches.append(Batch(phase, time.time(), [str(event.event_id) for event in events]))
        self.total += count

    def commits(self, phases: Iterable[str]) -> dict[str, float]:
        """Producer commit time of every event of ``phases``."""
        wanted = set(phases)
        return {
            event_id: batch.committed_at
            for batch in self.batches
            if batch.phase in wanted
            for event_id in batch.event_ids
        }


@dataclass(frozen=True)
class OfferedRun:
    """Wall-clock bounds of the offered-load phase."""

    measure_from: float
    last_commit: float


async def offer(producer: LoadProducer, rate: float, warmup_s: float, duration_s: float) -> OfferedRun:
    """Commit ``rate`` events/s, one transaction per tick, on an absolute schedule (open loop)."""
    loop = asyncio.get_running_loop()
    start, wall_start = loop.time(), time.time()
    stop_at = start + warmup_s + duration_s
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()
    sent, tick = 0, 0
    while (tick_at := start + tick * TICK_S) < stop_at:
        await asyncio.sleep(max(0.0, tick_at - loop.time()))
        count = round(rate * (tick * TICK_S + TICK_S)) - sent
        sent += count
        tick += 1
        if count <= 0:
            continue
        phase = "latency" if tick_at - start >= warmup_s else "warmup"
        await slots.acquire()
        task = asyncio.create_task(producer.commit(count, phase))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(lambda _: slots.release())
    await asyncio.gather(*tasks)
    return OfferedRun(wall_start + warmup_s, max(b.committed_at for b in producer.batches))


@dataclass(frozen=True)
class BurstRun:
    """Wall-clock bounds of the producer's part of the throughput phase."""

    started: float
    finished: float


async def burst(producer: LoadProducer, total: int, batch: int, concurrency: int) -> BurstRun:
    """Commit ``total`` events in transactions of ``batch`` from ``concurrency`` tasks, back to back."""
    remaining = total

    async def work() -> None:
        nonlocal remaining
        while remaining > 0:
            count = min(batch, remaining)
            remaining -= count
            await producer.commit(count, "burst")

    started = time.time()
    await asyncio.gather(*(work() for _ in range(concurrency)))
    return BurstRun(started, time.time())


# --- consumer side --------------------------------------------------------------------------------


class EffectClock:
    """When each applied event's effect committed: stamped as the consumer's connection goes back
    to its pool, which is right after the COMMIT returned (a rolled-back transaction stamps nothing).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.committed: dict[str, float] = {}
        self._pending: dict[int, list[str]] = {}
        sa.event.listen(engine.sync_engine, "rollback", self._on_rollback)
        sa.event.listen(engine.sync_engine, "checkin", self._on_checkin)

    @staticmethod
    def _key(connection: sa.Connection) -> int:
        return id(connection.connection.dbapi_connection)

    def note(self, connection: AsyncConnection, event_id: str) -> None:
        """Remember that ``event_id``'s effect is in the transaction of ``connection``."""
        assert connection.sync_connection is not None
        self._pending.setdefault(self._key(connection.sync_connection), []).append(event_id)

    def _on_rollback(self, connection: sa.Connection) -> None:
        # A transaction cancelled mid-flight leaves an invalidated connection that cannot be asked for
        # its DBAPI connection; it is discarded, so its pending ids are never stamped anyway.
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            self._pending.pop(self._key(connection), None)

    def _on_checkin(self, dbapi_connection: Any, _record: Any) -> None:
        done = self._pending.pop(id(dbapi_connection), None)
        if done:
            now = time.time()
            self.committed.update(dict.fromkeys(done, now))


def effect_handler(clock: EffectClock) -> Handler:
    """The consumer's handler: one ``bench_effects`` row per event, with the time it ran."""

    async def apply(connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        await connection.execute(
            _INSERT_EFFECT, {"event_id": uuid.UUID(envelope.event_id), "handled_at": time.time()}
        )
        clock.note(connection, envelope.event_id)

    return apply


def effect_batch_handler(clock: EffectClock) -> BatchHandler:
    """The same effect for a run of events, in one multi-row insert (``--batch-handler``)."""

    async def apply(connection: AsyncConnection, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        now = time.time()
        rows = [{"event_id": uuid.UUID(e.event_id), "handled_at": now} for e in envelopes]
        await connection.execute(_INSERT_EFFECT, rows)
        for envelope in envelopes:
            clock.note(connection, envelope.event_id)

    return apply


@dataclass
class ConsumerParts:
    """A runner and what it holds (closed by ``close``)."""

    runner: ConsumerRunner
    channel: grpc.aio.Channel
    database: Database
    clock: EffectClock

    async def close(self) -> None:
        await self.channel.close()
        await self.database.dispose()


def build_consumer(url: str, address: str, batch_handler: bool) -> ConsumerParts:
    """A ConsumerRunner of the producer at ``address``, wired as ``wiring.make_consumers`` does."""
    database = Database(create_engine(url, application_name="bench-consumer", pool_size=5))
    clock = EffectClock(database.engine)
    channel = grpc.aio.insecure_channel(address, interceptors=grpc_client_interceptors())
    spec = ConsumerSpec(
        name=CONSUMER,
        producer=PRODUCER,
        handlers={EVENT_TYPE: effect_handler(clock)},
        batch_handlers={EVENT_TYPE: effect_batch_handler(clock)} if batch_handler else {},
    )
    return ConsumerParts(ConsumerRunner(spec, database, CONSUMER_TABLES, channel), channel, database, clock)


async def cancel_task(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class ConsumerHandle(Protocol):
    """A consumer, in this process or in another: created first, then connected to the stream."""

    pid: int | None  # its own process, or None when it shares this one

    async def connect(self, address: str) -> None:
        """Start consuming the event stream at ``address``."""
        ...

    async def stop(self) -> dict[str, float]:
        """Stop it and return when each applied event's effect committed."""
        ...

    async def kill(self) -> None:
        """Stop it at once, after an error (idempotent)."""
        ...


class InProcessConsumer:
    """The consumer as a task of this process's event loop."""

    pid: int | None = None

    def __init__(self, url: str, batch_handler: bool) -> None:
        self._url = url
        self._batch_handler = batch_handler
        self._parts: ConsumerParts | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, address: str) -> None:
        self._parts = build_consumer(self._url, address, self._batch_handler)
        self._task = asyncio.create_task(self._parts.runner.run(), name="bench-consumer")

    async def stop(self) -> dict[str, float]:
        await self.kill()
        return self._parts.clock.committed if self._parts is not None else {}

    async def kill(self) -> None:
        if self._task is not None and not self._task.done():
            await cancel_task(self._task)
        if self._parts is not None:
            await self._parts.close()


class ConsumerProcess:
    """The consumer in a child process (``python -m bench.events _consume``). It reads the stream's
    address as the first line of its stdin, stops when its stdin closes, and then writes its effect
    commit times to stdout as one JSON object.

    The child is started before this process starts gRPC (hence the address over stdin): forking a
    process whose gRPC threads are running makes gRPC skip its fork handlers, with a warning.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.pid: int | None = process.pid

    @classmethod
    async def start(cls, url: str, batch_handler: bool) -> ConsumerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.events",
            CONSUMER_COMMAND,
            *(["--batch-handler"] if batch_handler else []),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO_ROOT,
            env={**os.environ, CONSUMER_URL_ENV: url},
        )
        return cls(process)

    async def connect(self, address: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(f"{address}\n".encode())
        await self._process.stdin.drain()

    async def stop(self) -> dict[str, float]:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.close()
        output = await asyncio.wait_for(self._process.stdout.read(), 60)
        if await self._process.wait() != 0:
            raise BenchError(f"the consumer process exited with {self._process.returncode}")
        committed: dict[str, float] = json.loads(output)["committed"]
        return committed

    async def kill(self) -> None:
        if self._process.returncode is None:
            self._process.kill()
            await self._process.wait()


async def create_consumer(url: str, separate: bool, batch_handler: bool) -> ConsumerHandle:
    """The consumer, in this process or (``separate``) in a child process; not yet connected."""
    if separate:
        return await ConsumerProcess.start(url, batch_handler)
    return InProcessConsumer(url, batch_handler)


async def consumer_child(url: str, batch_handler: bool) -> None:
    """The hidden sub-command: read the address, consume until stdin closes, print the commit times."""
    address = (await asyncio.to_thread(sys.stdin.readline)).strip()
    if not address:
        return
    parts = build_consumer(url, address, batch_handler)
    task = asyncio.create_task(parts.runner.run(), name="bench-consumer")
    await asyncio.to_thread(sys.stdin.read)
    await cancel_task(task)
    await parts.close()
    sys.stdout.write(json.dumps({"committed": parts.clock.committed}))
    sys.stdout.flush()

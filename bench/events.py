"""Benchmark: the event backbone end to end — outbox → sequencer → gRPC stream → consumer effect.

Builds a producer and a consumer from the shared runtime (``services.runtime.events``) on a scratch
database of its own, drives two fixed workloads through them, and prints one JSON object on stdout.
DESIGN.md's target is event → consumer effect p99 <= 250 ms (2 cores, everything on one machine);
this benchmark checks it at 2,000 events/s, the single-event API target rate.

What runs (the backbone exactly as a service wires it, see ``services/runtime/events/wiring.py``):

- a scratch database ``patron_bench_events_<random>`` on the server named by ``--database-url``
  (default ``$PATRON_BENCH_DATABASE_URL``, else ``postgresql://postgres@127.0.0.1:5432/postgres``),
  with the runtime's outbox, outbox heads (16 partitions), consumer tables and ``bench_effects``;
  it is dropped at the end, also after an error, Ctrl-C or SIGTERM;
- a ``ServiceServer`` serving ``patron.events.v1.EventStream`` with the ``Listener`` and ``Sequencer``
  background tasks (production defaults: pool 20, sequencer batch 5,000 and coalescing window, the
  stream's heartbeat and coalescing window); the producer's ``Outbox`` wakes the sequencer of its
  own process after each commit, as ``make_producer`` wires it;
- a ``ConsumerRunner`` (production defaults: batches of 500, 6 s leases) whose handler inserts a
  row per ``customer.updated`` event into ``bench_effects``: the event id and ``time.time()`` when the
  handler ran (with ``--batch-handler`` it also has a batch handler: one multi-row insert per run of
  events). The time its transaction *committed* (when the effect exists) is taken in Python right
  after the COMMIT returns (a pool check-in hook on the consumer's engine);
- by default producer, server and consumer share one process and one event loop
  (``"topology": "single-process"``); ``--consumer-process`` runs the consumer in a child process
  (a hidden sub-command of this module), as it would run in another service
  (``"topology": "consumer-process"``). uvloop is used when installed, as the services do.

The workload (the defaults *are* the workload; change them only to explore):

1. **Latency at a fixed offered rate.** An open-loop producer commits ``--rate`` events/s (2,000):
   every 10 ms one transaction of rate x 0.01 events (20), each ``customer.updated`` with a
   ``CustomerUpdated`` payload for one of ``--customers`` (10,000) random customers of one tenant; a
   late tick does not delay the schedule (up to 8 transactions in flight). ``--warmup`` s (3) are not
   measured, then ``--duration`` s (15) are. An event's latency is its consumer transaction's commit
   time minus its producer commit time (``time.time()`` right after each COMMIT returns); reported as
   p50/p90/p99/max, with the stages producer commit → sequenced (the sequencer's ``now()``) and →
   handler run. ``kept_up`` is true when every event was applied within ``--keep-up-within`` s (1)
   after the producer's last commit (a consumer that keeps up is done within about its latency).
2. **Throughput.** ``--burst`` events (100,000) committed as fast as possible in transactions of
   ``--batch`` (500) by ``--producers`` (4) concurrent producer tasks, while the consumer runs; then
   the time until the consumer has applied them all. Reported: producer commit events/s, sequenced
   events/s and end-to-end events/s (first producer transaction → last effect committed).

Each phase waits until the consumer has caught up (at most ``--drain-timeout`` s, 300). The report
also gives CPU use per phase (this process, the consumer process, the scratch database's backends,
the whole PostgreSQL server, the machine, and other processes: a run on a busy machine shows there),
the event-loop lag of this process during the latency phase, and an exactly-once check (events
produced, applied, applied twice).

Run from the repository root::

    python -m bench.events [--consumer-process] [--batch-handler] [--output bench-results/events.json]

(``python bench/events.py`` works too.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import grpc
import sqlalchemy as sa
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

if not __package__:  # run as a script (python bench/events.py): make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import BenchError, emit_report, latency_summary, log, machine_info
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
_APPLIED = sa.text("SELECT coalesce(sum(position), 0) FROM consumer_positions WHERE consumer = :c")
_OWNED = sa.text("SELECT count(*) FROM consumer_positions WHERE consumer = :c AND owner IS NOT NULL")


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
    channel = grpc.aio.insecure_channel(address, interceptors=aio_client_interceptors())
    spec = ConsumerSpec(
        name=CONSUMER,
        producer=PRODUCER,
        handlers={EVENT_TYPE: effect_handler(clock)},
        batch_handlers={EVENT_TYPE: effect_batch_handler(clock)} if batch_handler else {},
    )
    return ConsumerParts(ConsumerRunner(spec, database, CONSUMER_TABLES, channel), channel, database, clock)


async def _cancel(task: asyncio.Task[Any]) -> None:
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
            await _cancel(self._task)
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
    await _cancel(task)
    await parts.close()
    sys.stdout.write(json.dumps({"committed": parts.clock.committed}))
    sys.stdout.flush()


# --- watching the run -----------------------------------------------------------------------------


async def _scalar(engine: AsyncEngine, statement: sa.TextClause, **params: Any) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(statement, params)).scalar_one())


async def wait_ready(observer: AsyncEngine, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Wait until the consumer holds the leases of every partition."""
    deadline = time.monotonic() + timeout_s
    while await _scalar(observer, _OWNED, c=CONSUMER) < PARTITIONS:
        if time.monotonic() > deadline:
            raise BenchError(f"the consumer did not take its partitions within {timeout_s:g} s")
        await asyncio.sleep(POLL_S)


async def wait_applied(observer: AsyncEngine, total: int, timeout_s: float) -> bool:
    """Wait until the consumer's positions cover ``total`` events (positions are dense, and move in
    the transaction of the effects); False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while await _scalar(observer, _APPLIED, c=CONSUMER) < total:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


class LoopLag:
    """How late this event loop wakes a task that sleeps ``interval`` s (a busy loop wakes it late)."""

    def __init__(self, interval: float = 0.005) -> None:
        self._interval = interval
        self.samples_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self._interval)
            self.samples_ms.append((loop.time() - before - self._interval) * 1000.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._probe())

    async def stop(self) -> dict[str, float | None]:
        if self._task is not None:
            await _cancel(self._task)
        return latency_summary(self.samples_ms)


# --- CPU use --------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (Linux), None when unreadable."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid``, None when unreadable."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else None


def children_of(parent: int) -> list[int]:
    """The processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(entry.name)) and int(fields[1]) == parent:
            found.append(int(entry.name))
    return found


def system_cpu() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs since boot (Linux ``/proc/stat``), None when unreadable."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, IndexError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return float(sum(values) - idle), float(sum(values))


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU counters at one moment: the machine's, and per process of each named group."""

    at: float
    system: tuple[float, float] | None
    groups: dict[str, dict[int, float]] = field(default_factory=dict)


_BACKENDS = sa.text(
    "SELECT pg_backend_pid() AS mine, array_agg(pid) AS pids FROM pg_stat_activity "
    "WHERE datname = current_database()"
)


async def postgres_pids(observer: AsyncEngine) -> tuple[list[int], int | None]:
    """The scratch database's backends, and the server's postmaster (None when the server is not
    on this machine)."""
    async with observer.connect() as connection:
        row = (await connection.execute(_BACKENDS)).one()
    fields = _stat(int(row.mine))
    return [int(pid) for pid in row.pids or []], int(fields[1]) if fields else None


def read_cpu(groups: Mapping[str, Sequence[int]], postmaster: int | None) -> CpuSnapshot:
    """Read the counters (blocking: ``/proc``). ``postgres_server`` is the postmaster and all its
    children: every database's backends, the WAL writer, the checkpointer..."""
    server = [postmaster, *children_of(postmaster)] if postmaster is not None else []
    readings = {
        name: {pid: cpu for pid in pids if (cpu := process_cpu_s(pid)) is not None}
        for name, pids in {**groups, "postgres_server": server}.items()
    }
    return CpuSnapshot(time.monotonic(), system_cpu(), readings)


async def cpu_snapshot(observer: AsyncEngine, consumer_pid: int | None) -> CpuSnapshot:
    """CPU counters of the machine, this process, the consumer process and PostgreSQL."""
    backends, postmaster = await postgres_pids(observer)
    groups = {"bench_process": [os.getpid()], "postgres_backends": backends}
    if consumer_pid is not None:
        groups["consumer_process"] = [consumer_pid]
    return await asyncio.to_thread(read_cpu, groups, postmaster)


def cpu_usage(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float | None]:
    """CPU used between the snapshots: per group in % of one core; the machine, and what none of
    the groups used (other processes on the machine), in % of all cores."""
    elapsed = after.at - before.at
    if elapsed <= 0:
        return {}
    usage: dict[str, float | None] = {}
    ours = 0.0
    for name, readings in after.groups.items():
        start = before.groups.get(name, {})
        used = sum(cpu - start.get(pid, 0.0) for pid, cpu in readings.items())
        usage[f"{name}_pct_of_one_core"] = round(100.0 * used / elapsed, 1) if readings else None
        if name != "postgres_backends":  # a part of postgres_server
            ours += used
    if before.system and after.system and after.system[1] > before.system[1]:
        busy = (after.system[0] - before.system[0]) / (after.system[1] - before.system[1])
        cores = os.cpu_count() or 1
        usage["machine_busy_pct_of_all_cores"] = round(100.0 * busy, 1)
        usage["other_processes_pct_of_all_cores"] = round(max(100.0 * (busy - ours / elapsed / cores), 0), 1)
    return usage


# --- the report -----------------------------------------------------------------------------------


@dataclass
class Observations:
    """What the consumer side recorded, per event id (wall-clock seconds)."""

    committed: dict[str, float]
    handled: dict[str, float]
    sequenced: dict[str, float]
    effect_rows: int
    distinct_effects: int


async def observe(observer: AsyncEngine, committed: dict[str, float]) -> Observations:
    """Read the effects and the sequencing times back from the scratch database."""
    query = sa.text(
        "SELECT e.event_id::text AS id, e.handled_at, extract(epoch FROM o.sequenced_at)::float8 AS seq "
        "FROM bench_effects e JOIN outbox o USING (event_id)"
    )
    counts = sa.text("SELECT count(*), count(DISTINCT event_id) FROM bench_effects")
    async with observer.connect() as connection:
        rows = (await connection.execute(query)).all()
        total, distinct = (await connection.execute(counts)).one()
    return Observations(
        committed=committed,
        handled={row.id: row.handled_at for row in rows},
        sequenced={row.id: row.seq for row in rows},
        effect_rows=int(total),
        distinct_effects=int(distinct),
    )


def _delays_ms(produced: Mapping[str, float], seen: Mapping[str, float]) -> list[float]:
    return [(seen[event] - at) * 1000.0 for event, at in produced.items() if event in seen]


def _ms(summary: Mapping[str, float | None]) -> dict[str, float | None]:
    return {f"{name}_ms": value for name, value in summary.items()}


@dataclass(frozen=True)
class LatencyRun:
    """What the latency phase measured besides the events' own times."""

    offered: OfferedRun
    drained: bool
    cpu: dict[str, float | None]
    loop_lag_ms: dict[str, float | None]


def latency_report(
    options: argparse.Namespace, producer: LoadProducer, run: LatencyRun, seen: Observations
) -> dict[str, Any]:
    """The ``latency`` section: producer commit → consumer effect committed, and its stages."""
    measured = producer.commits(["latency"])
    everything = producer.commits(["warmup", "latency"])
    applied = [seen.committed[e] for e in everything if e in seen.committed]
    drain_s = max(applied) - run.offered.last_commit if len(applied) == len(everything) else None
    window = run.offered.last_commit - run.offered.measure_from
    return {
        "offered_rate": options.rate,
        "achieved_rate": round(len(measured) / window, 1) if window > 0 else None,
        "events": len(measured),
        "warmup_s": options.warmup,
        "duration_s": options.duration,
        **_ms(latency_summary(_delays_ms(measured, seen.committed))),
        "stages_ms": {
            "commit_to_sequenced": latency_summary(_delays_ms(measured, seen.sequenced)),
            "commit_to_handler": latency_summary(_delays_ms(measured, seen.handled)),
        },
        "kept_up": drain_s is not None and drain_s <= options.keep_up_within,
        "drain_s": round(drain_s, 3) if drain_s is not None else None,
        "keep_up_within_s": options.keep_up_within,
        "cpu": run.cpu,
        "bench_loop_lag_ms": run.loop_lag_ms,
    }


def _rate(count: int, start: float, end: float | None) -> float | None:
    return round(count / (end - start), 1) if end is not None and end > start else None


def throughput_report(
    options: argparse.Namespace,
    producer: LoadProducer,
    run: BurstRun,
    cpu: dict[str, float | None],
    seen: Observations,
) -> dict[str, Any]:
    """The ``throughput`` section: producer, sequencer and end-to-end events/s of the burst."""
    events = producer.commits(["burst"])
    applied = [seen.committed[e] for e in events if e in seen.committed]
    sequenced = [seen.sequenced[e] for e in events if e in seen.sequenced]
    last_effect = max(applied) if len(applied) == len(events) else None
    return {
        "events": len(events),
        "batch": options.batch,
        "producers": options.producers,
        "producer_events_per_s": _rate(len(events), run.started, run.finished),
        "sequenced_events_per_s": _rate(len(events), run.started, max(sequenced, default=None)),
        "end_to_end_events_per_s": _rate(len(events), run.started, last_effect),
        "consumer_done_after_producer_s": (
            round(last_effect - run.finished, 3) if last_effect is not None else None
        ),
        "cpu": cpu,
    }


async def postgres_info(observer: AsyncEngine) -> dict[str, str]:
    """The server's version and the settings that bound commit latency."""
    names = ["server_version", "synchronous_commit", "fsync", "shared_buffers", "wal_sync_method"]
    query = sa.text("SELECT name, current_setting(name) FROM unnest(CAST(:names AS text[])) AS name")
    async with observer.connect() as connection:
        return {row[0]: row[1] for row in (await connection.execute(query, {"names": names})).all()}


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Rig:
    """Everything a run starts, so that ``close`` can stop it whatever happened."""

    server: ServiceServer
    wake: Callable[[], None]
    producer_db: Database
    observer: AsyncEngine
    consumer: ConsumerHandle | None = None

    async def close(self) -> None:
        """Stop the consumer, the server and the engines; a step that fails does not skip the rest."""
        steps: list[Callable[[], Awaitable[object]]] = [
            *([self.consumer.kill] if self.consumer is not None else []),
            lambda: self.server.stop(grace=0.5),
            self.producer_db.dispose,
            self.observer.dispose,
        ]
        for step in steps:
            try:
                await step()
            except Exception as error:
                log(f"while stopping: {type(error).__name__}: {error}")


async def run_latency(options: argparse.Namespace, rig: Rig, producer: LoadProducer) -> LatencyRun:
    """Phase 1: the offered load, then wait for the consumer to catch up."""
    assert rig.consumer is not None
    log(f"latency: {options.rate:g} events/s, {options.warmup:g} s warm-up + {options.duration:g} s")
    lag = LoopLag()
    snapshots: list[CpuSnapshot] = []

    async def snapshot_after_warmup() -> None:
        await asyncio.sleep(options.warmup)
        snapshots.append(await cpu_snapshot(rig.observer, rig.consumer.pid if rig.consumer else None))
        lag.start()

    marker = asyncio.create_task(snapshot_after_warmup())
    offered = await offer(producer, options.rate, options.warmup, options.duration)
    await marker
    after = await cpu_snapshot(rig.observer, rig.consumer.pid)
    lag_ms = await lag.stop()
    drained = await wait_applied(rig.observer, producer.total, options.drain_timeout)
    return LatencyRun(offered, drained, cpu_usage(snapshots[0], after), lag_ms)


async def run_throughput(
    options: argparse.Namespace, rig: Rig, producer: LoadProducer
) -> tuple[BurstRun, dict[str, float | None]]:
    """Phase 2: the burst, then wait for the consumer to apply it all."""
    assert rig.consumer is not None
    log(f"throughput: {options.burst} events in transactions of {options.batch}")
    before = await cpu_snapshot(rig.observer, rig.consumer.pid)
    run = await burst(producer, options.burst, options.batch, options.producers)
    if not await wait_applied(rig.observer, producer.total, options.drain_timeout):
        log(f"throughput: the consumer did not catch up within {options.drain_timeout:g} s")
    return run, cpu_usage(before, await cpu_snapshot(rig.observer, rig.consumer.pid))


async def start_rig(options: argparse.Namespace, url: str) -> Rig:
    """Start the producer server and the consumer; return once the consumer holds every partition."""
    server, wake = producer_server(url)
    rig = Rig(
        server=server,
        wake=wake,
        producer_db=Database(create_engine(url, application_name="bench-producer", pool_size=10)),
        observer=create_engine(url, application_name="bench-observer", pool_size=2),
    )
    try:
        rig.consumer = await create_consumer(url, options.consumer_process, options.batch_handler)
        port = await server.start()
        await rig.consumer.connect(f"127.0.0.1:{port}")
        await wait_ready(rig.observer)
    except BaseException:
        await rig.close()
        raise
    return rig


async def measure(options: argparse.Namespace, url: str) -> dict[str, Any]:
    """Both phases on the scratch database at ``url``; returns the report."""
    rig = await start_rig(options, url)
    try:
        producer = LoadProducer(rig.producer_db, rig.wake, options.customers, random.Random(options.seed))
        latency = await run_latency(options, rig, producer)
        burst_run, burst_cpu = await run_throughput(options, rig, producer)
        assert rig.consumer is not None
        committed = await rig.consumer.stop()
        seen = await observe(rig.observer, committed)
        postgres = await postgres_info(rig.observer)
    finally:
        await rig.close()
    return {
        "benchmark": "events",
        "topology": "consumer-process" if options.consumer_process else "single-process",
        "handler": "batch" if options.batch_handler else "single",
        "partitions": PARTITIONS,
        "latency": latency_report(options, producer, latency, seen),
        "throughput": throughput_report(options, producer, burst_run, burst_cpu, seen),
        "exactly_once": {
            "produced": producer.total,
            "applied": seen.distinct_effects,
            "applied_twice": seen.effect_rows - seen.distinct_effects,
        },
        "seed": options.seed,
        "target": TARGET,
        "machine": {**machine_info(), "event_loop": _loop_name(), "postgres": postgres},
    }


async def run(options: argparse.Namespace) -> dict[str, Any]:
    """Create the scratch database, measure, and drop it again whatever happens."""
    current = asyncio.current_task()
    if current is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, current.cancel)
    try:
        name = await create_database(options.database_url)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise BenchError(f"cannot create a scratch database on {options.database_url}: {error}") from error
    log(f"scratch database {name}")
    try:
        url = scratch_url(options.database_url, name)
        await create_schema(url)
        return await measure(options, url)
    finally:
        await drop_database(options.database_url, name)
        log(f"dropped {name}")


def _loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def run_loop(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``main`` on uvloop when installed (as the services do), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


# --- the command line -----------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; the defaults are the benchmark's fixed workload."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.events",
        description="Event backbone end to end: outbox → sequencer → stream → consumer effect.",
    )
    default_url = os.environ.get("PATRON_BENCH_DATABASE_URL") or DEFAULT_SERVER_URL
    parser.add_argument(
        "--database-url",
        default=default_url,
        help="PostgreSQL server to create the scratch database on "
        f"(default $PATRON_BENCH_DATABASE_URL, else {DEFAULT_SERVER_URL})",
    )
    parser.add_argument("--rate", type=_positive_float, default=2000.0, help="offered events/s (2000)")
    parser.add_argument("--duration", type=_positive_float, default=15.0, help="seconds measured (15)")
    parser.add_argument("--warmup", type=_non_negative_float, default=3.0, help="seconds first (3)")
    parser.add_argument("--customers", type=_positive_int, default=10_000, help="customer ids (10000)")
    parser.add_argument("--burst", type=_positive_int, default=100_000, help="throughput events (100000)")
    parser.add_argument("--batch", type=_positive_int, default=500, help="events a burst transaction (500)")
    parser.add_argument("--producers", type=_positive_int, default=4, help="burst producer tasks (4)")
    parser.add_argument(
        "--keep-up-within", type=_positive_float, default=1.0, help="kept_up: drained within s (1)"
    )
    parser.add_argument(
        "--drain-timeout", type=_positive_float, default=300.0, help="wait for the consumer, s (300)"
    )
    parser.add_argument(
        "--consumer-process", action="store_true", help="run the consumer in a separate process"
    )
    parser.add_argument("--batch-handler", action="store_true", help="also give the consumer a batch handler")
    parser.add_argument("--seed", type=int, default=1, help="seeds the customers and their choice (1)")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON report here")
    return parser.parse_args(argv)


def consumer_main(argv: Sequence[str]) -> int:
    """Entry of the hidden ``_consume`` sub-command: the scratch URL comes in the environment, the
    stream's address on stdin."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.events {CONSUMER_COMMAND}")
    parser.add_argument("--batch-handler", action="store_true")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, also on its Ctrl-C
    run_loop(lambda: consumer_child(os.environ[CONSUMER_URL_ENV], options.batch_handler))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run both phases and print the report. Returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="bench: %(name)s: %(levelname)s %(message)s")
    if args[:1] == [CONSUMER_COMMAND]:
        return consumer_main(args[1:])
    options = parse_args(args)
    try:
        report = run_loop(lambda: run(options))
    except BenchError as error:
        log(str(error))
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except asyncio.CancelledError:  # SIGTERM
        log("terminated")
        return 143
    emit_report(report, options.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

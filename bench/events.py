"""Benchmark: the event backbone end to end — outbox → sequencer → gRPC stream → consumer effect.

Builds a producer and a consumer from the shared runtime (``services.runtime.events``) on a scratch
database of its own, drives two fixed workloads through them, and prints one JSON object on stdout.
The target in docs/product.md is event → consumer effect p99 <= 250 ms (2 cores, everything on one machine);
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
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

if not __package__:  # run as a script (python bench/events.py): make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._backbone import (
    APPLIED_EFFECTS_SQL,
    CONSUMER,
    CONSUMER_COMMAND,
    CONSUMER_URL_ENV,
    DEFAULT_SERVER_URL,
    OWNED_PARTITIONS_SQL,
    PARTITIONS,
    POLL_S,
    READY_TIMEOUT_S,
    TARGET,
    BurstRun,
    ConsumerHandle,
    LoadProducer,
    OfferedRun,
    burst,
    cancel_task,
    consumer_child,
    create_consumer,
    create_database,
    create_schema,
    drop_database,
    offer,
    producer_server,
    scratch_url,
)
from bench._common import (
    BenchError,
    emit_report,
    latency_summary,
    log,
    machine_info,
    positive_float,
    positive_int,
)
from bench._cpu import (
    CpuSnapshot,
    cpu_snapshot,
    cpu_usage,
)
from services.runtime.database import Database, create_engine
from services.runtime.events.tables import producer_tables
from services.runtime.server import ServiceServer

metadata = sa.MetaData()
OUTBOX, _ = producer_tables(metadata)


# --- watching the run -----------------------------------------------------------------------------


async def _scalar(engine: AsyncEngine, statement: sa.TextClause, **params: Any) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(statement, params)).scalar_one())


async def wait_ready(observer: AsyncEngine, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Wait until the consumer holds the leases of every partition."""
    deadline = time.monotonic() + timeout_s
    while await _scalar(observer, OWNED_PARTITIONS_SQL, c=CONSUMER) < PARTITIONS:
        if time.monotonic() > deadline:
            raise BenchError(f"the consumer did not take its partitions within {timeout_s:g} s")
        await asyncio.sleep(POLL_S)


async def wait_applied(observer: AsyncEngine, total: int, timeout_s: float) -> bool:
    """Wait until the consumer's positions cover ``total`` events (positions are dense, and move in
    the transaction of the effects); False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while await _scalar(observer, APPLIED_EFFECTS_SQL, c=CONSUMER) < total:
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
            await cancel_task(self._task)
        return latency_summary(self.samples_ms)


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
        "SELECT e.event_id::text AS id, e.handled_at, extract(epoch FROM p.sequenced_at)::float8 AS seq "
        "FROM bench_effects e JOIN outbox o USING (event_id) JOIN outbox_positions p ON p.outbox_id = o.id"
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
    parser.add_argument("--rate", type=positive_float, default=2000.0, help="offered events/s (2000)")
    parser.add_argument("--duration", type=positive_float, default=15.0, help="seconds measured (15)")
    parser.add_argument("--warmup", type=_non_negative_float, default=3.0, help="seconds first (3)")
    parser.add_argument("--customers", type=positive_int, default=10_000, help="customer ids (10000)")
    parser.add_argument("--burst", type=positive_int, default=100_000, help="throughput events (100000)")
    parser.add_argument("--batch", type=positive_int, default=500, help="events a burst transaction (500)")
    parser.add_argument("--producers", type=positive_int, default=4, help="burst producer tasks (4)")
    parser.add_argument(
        "--keep-up-within", type=positive_float, default=1.0, help="kept_up: drained within s (1)"
    )
    parser.add_argument(
        "--drain-timeout", type=positive_float, default=300.0, help="wait for the consumer, s (300)"
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

"""Benchmark: ``POST /v1/customers/identify`` through the gateway, at a fixed concurrency.

Measures successful calls per second and p50/p90/p99/max latency against a system already running
(``patron up``), and prints one JSON object on stdout. The target in docs/product.md for a
single-event API call is >= 2,000 calls/s with p99 <= 50 ms (2 cores, everything on one machine).

The workload (the defaults *are* the workload; change them only to explore):

- a fresh tenant per run (``POST /v1/admin/tenants``, name ``bench-<UTC timestamp>``);
- 64 concurrent callers (``--concurrency``), each with its own keep-alive HTTP/1.1 connection (an
  ``httpx.AsyncClient`` each), issuing calls back to back (closed loop: a caller sends its next call
  when the previous one is answered);
- 3 s warm-up (``--warmup``, not measured), then 20 s measured (``--duration``), or ``--requests N``;
- each call identifies a customer by two identities, a Chinese mobile number and an e-mail address::

      {"identities": [{"type": "phone", "value": "+8613912345678"},
                      {"type": "email", "value": "u42@bench.example"}]}

  with probability 0.5 (``--new-ratio``) a never-seen customer (the call creates it and both
  identities), otherwise, uniformly, a customer this run has already created (the call only finds
  it). Re-identification starts once a process has created 4 customers per caller (during the
  warm-up at the defaults), so that callers seldom contend for one customer's locks;
- phone numbers are ``+86 139`` and 8 digits, a bijection of the customer's index shifted by the
  seed (``--seed``, default 1): a run never repeats a number, and every one is a valid CN mobile;
- one load-generator process (``--processes``); with more, the concurrency is split across them,
  they start together, and their latency samples are merged;
- every call has a 10 s timeout (``--timeout``). A non-2xx answer or a transport failure is an error,
  counted by status code or exception name; latency percentiles are over the successful calls.

Run from the repository root, with the system up::

    python -m bench.identify [--url http://127.0.0.1:8080] [--output results/identify.json]

(``python bench/identify.py`` works too.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import httpx

if not __package__:  # run as a script (python bench/identify.py): make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    DEFAULT_URL,
    BenchError,
    create_tenant,
    emit_report,
    fast_httpcore,
    latency_summary,
    load_admin_token,
    log,
    machine_info,
    positive_float,
    positive_int,
)

TARGET = {"calls_per_s": 2000, "p99_ms": 50}
PHONE_SPACE = 10**8  # the 8 digits after +86 139
PHONE_STRIDE = 48_271  # coprime with 10**8, so index -> number is a bijection
TRANSPORT_ERROR_PAUSE_S = 0.01  # a refused connection must not become a busy loop
BARRIER_TIMEOUT_S = 120.0
KNOWN_PER_CALLER = 4  # customers created per caller before any call re-identifies one


@dataclass(frozen=True)
class Workload:
    """What one load-generator process does; ``worker``/``workers`` say which share of the run it is."""

    url: str
    api_key: str
    concurrency: int
    duration_s: float | None
    requests: int | None
    warmup_s: float
    new_ratio: float
    seed: int
    timeout_s: float
    worker: int = 0
    workers: int = 1


@dataclass
class WorkerResult:
    """What one load-generator process measured (measured window only, warm-up excluded)."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    created: int = 0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0


@lru_cache(maxsize=8)
def _phone_offset(seed: int) -> int:
    return random.Random(seed).randrange(PHONE_SPACE)


def phone_number(index: int, seed: int) -> str:
    """The ``index``-th customer's mobile number: ``+86139`` and 8 digits, distinct for distinct indexes."""
    return f"+86139{(index * PHONE_STRIDE + _phone_offset(seed)) % PHONE_SPACE:08d}"


def identify_body(index: int, seed: int) -> bytes:
    """The JSON body identifying customer ``index`` by phone and e-mail."""
    identities = [
        {"type": "phone", "value": phone_number(index, seed)},
        {"type": "email", "value": f"u{index}@bench.example"},
    ]
    return json.dumps({"identities": identities}, separators=(",", ":")).encode()


class _Run:
    """One process's share of the run: the schedule, the customers it created, and the samples."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        started = time.perf_counter()
        self.measure_from = started + workload.warmup_s
        self.stop_at = self.measure_from + workload.duration_s if workload.duration_s is not None else None
        self.remaining = workload.requests
        self.known: list[int] = []
        self.next_new = 0
        self.last_done = self.measure_from
        self.result = WorkerResult()

    def admit(self, now: float) -> bool | None:
        """Whether a call starting ``now`` is measured; None when the run is over for this caller."""
        measuring = now >= self.measure_from
        if self.stop_at is not None:
            return None if now >= self.stop_at else measuring
        if measuring:
            assert self.remaining is not None
            if self.remaining <= 0:
                return None
            self.remaining -= 1
        return measuring

    def pick(self, rng: random.Random) -> tuple[int, bool]:
        """The customer index to identify next, and whether it is a new one.

        Re-identification waits until this process has created a few customers per caller, so that
        callers rarely pick the same customer at once (they would queue on its identity locks).
        """
        enough = len(self.known) >= KNOWN_PER_CALLER * self.workload.concurrency
        if not enough or rng.random() < self.workload.new_ratio:
            index = self.next_new * self.workload.workers + self.workload.worker
            self.next_new += 1
            return index, True
        return rng.choice(self.known), False


async def _caller(client: httpx.AsyncClient, run: _Run, rng: random.Random) -> None:
    """One closed-loop caller: identify, record, repeat until the run is over."""
    result, seed = run.result, run.workload.seed
    while (measured := run.admit(time.perf_counter())) is not None:
        index, is_new = run.pick(rng)
        started = time.perf_counter()
        try:
            response = await client.post("/v1/customers/identify", content=identify_body(index, seed))
        except (httpx.HTTPError, OSError) as error:
            if measured:
                result.requests += 1
                result.errors[type(error).__name__] += 1
                run.last_done = max(run.last_done, time.perf_counter())
            await asyncio.sleep(TRANSPORT_ERROR_PAUSE_S)
            continue
        done = time.perf_counter()
        ok = 200 <= response.status_code < 300
        if ok and is_new:
            run.known.append(index)
        if not measured:
            continue
        result.requests += 1
        run.last_done = max(run.last_done, done)
        if not ok:
            result.errors[str(response.status_code)] += 1
            continue
        result.latencies_ms.append((done - started) * 1000.0)
        if b'"created":true' in response.content:
            result.created += 1


async def _cpu_during_measurement(run: _Run) -> float:
    """process_time() when measurement starts (the caller subtracts it from the final reading)."""
    await asyncio.sleep(max(0.0, run.measure_from - time.perf_counter()))
    return time.process_time()


async def drive(workload: Workload) -> WorkerResult:
    """Run ``workload`` in this process's event loop and return what it measured.

    Each caller gets its own client holding one keep-alive connection: the process still keeps
    ``concurrency`` connections, but httpcore scans every pooled connection (a ``select`` on each
    socket) for every request, so one shared pool of 64 costs ~10 ms of client CPU a call where
    64 pools of one cost ~0.65 ms (measured against a trivial server).
    """
    fast_httpcore()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60.0)
    headers = {"Authorization": f"Bearer {workload.api_key}", "Content-Type": "application/json"}
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=workload.url,
                    headers=headers,
                    limits=limits,
                    timeout=workload.timeout_s,
                    http2=False,
                )
            )
            for _ in range(workload.concurrency)
        ]
        run = _Run(workload)
        cpu_mark = asyncio.create_task(_cpu_during_measurement(run))
        await asyncio.gather(
            *(
                _caller(client, run, random.Random(f"{workload.seed}/{workload.worker}/{i}"))
                for i, client in enumerate(clients)
            )
        )
        cpu_from = await cpu_mark
    run.result.cpu_s = time.process_time() - cpu_from
    run.result.elapsed_s = run.last_done - run.measure_from
    return run.result


def _run_loop(main: Callable[[], Coroutine[Any, Any, WorkerResult]]) -> WorkerResult:
    """Run ``main`` on uvloop when installed (a cheaper load generator), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


_barrier: Barrier | None = None


def _init_worker(barrier: Barrier) -> None:
    global _barrier
    _barrier = barrier


def _worker_main(workload: Workload) -> WorkerResult:
    """Entry of a load-generator process: wait for the others, then drive its share."""
    if _barrier is not None:
        _barrier.wait(BARRIER_TIMEOUT_S)
    return _run_loop(lambda: drive(workload))


def split(total: int, parts: int, part: int) -> int:
    """Part ``part`` of ``total`` shared as evenly as possible among ``parts``."""
    return total // parts + (1 if part < total % parts else 0)


def run_workers(workload: Workload, processes: int) -> list[WorkerResult]:
    """Drive ``workload`` from ``processes`` processes (in this process when 1) and collect the results."""
    if processes == 1:
        return [_run_loop(lambda: drive(workload))]
    shares = [
        replace(
            workload,
            worker=p,
            workers=processes,
            concurrency=split(workload.concurrency, processes, p),
            requests=None if workload.requests is None else split(workload.requests, processes, p),
        )
        for p in range(processes)
    ]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    with ProcessPoolExecutor(
        max_workers=processes, mp_context=context, initializer=_init_worker, initargs=(barrier,)
    ) as pool:
        return list(pool.map(_worker_main, shares))


def merge(results: list[WorkerResult]) -> WorkerResult:
    """One result from several processes' (which ran over the same window)."""
    merged = WorkerResult()
    for result in results:
        merged.latencies_ms.extend(result.latencies_ms)
        merged.errors.update(result.errors)
        merged.requests += result.requests
        merged.created += result.created
        merged.cpu_s += result.cpu_s
        merged.elapsed_s = max(merged.elapsed_s, result.elapsed_s)
    return merged


def report(workload: Workload, processes: int, result: WorkerResult) -> dict[str, Any]:
    """The JSON report of a run."""
    ok = len(result.latencies_ms)
    elapsed = result.elapsed_s
    return {
        "benchmark": "identify",
        "url": workload.url,
        "concurrency": workload.concurrency,
        "processes": processes,
        "duration_s": round(elapsed, 3),
        "requests": result.requests,
        "ok": ok,
        "errors": dict(sorted(result.errors.items())),
        "calls_per_s": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "latency_ms": latency_summary(result.latencies_ms),
        "new_ratio": workload.new_ratio,
        "created": result.created,
        "warmup_s": workload.warmup_s,
        "seed": workload.seed,
        "load_generator_cpu_pct": round(100.0 * result.cpu_s / elapsed, 1) if elapsed > 0 else None,
        "target": TARGET,
        "machine": machine_info(),
    }


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; the defaults are the benchmark's fixed workload."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.identify",
        description="POST /v1/customers/identify: calls/s and latency through the gateway.",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gateway URL (default {DEFAULT_URL})")
    parser.add_argument(
        "--admin-token",
        default=None,
        help="admin token (default: $PATRON_ADMIN_TOKEN, else <PATRON_HOME or .patron>/admin_token)",
    )
    parser.add_argument("--concurrency", type=positive_int, default=64, help="callers in flight (64)")
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=positive_float, default=None, help="seconds measured (20)")
    stop.add_argument("--requests", type=positive_int, default=None, help="calls measured, instead")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured calls first (3)")
    parser.add_argument(
        "--new-ratio", type=_fraction, default=0.5, help="share of calls for a never-seen customer (0.5)"
    )
    parser.add_argument("--processes", type=positive_int, default=1, help="load-generator processes (1)")
    parser.add_argument("--seed", type=int, default=1, help="seed of phone numbers and choices (1)")
    parser.add_argument("--timeout", type=positive_float, default=10.0, help="per-call timeout, s (10)")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON report here")
    options = parser.parse_args(argv)
    if options.requests is None and options.duration is None:
        options.duration = 20.0
    if options.warmup < 0:
        parser.error("--warmup must not be negative")
    if options.processes > options.concurrency:
        parser.error("--processes must not exceed --concurrency")
    return options


def main(argv: list[str] | None = None) -> int:
    """Entry point: create a tenant, drive the load, print the report. Returns the exit code."""
    options = parse_args(argv)
    try:
        admin_token = load_admin_token(options.admin_token)
        tenant_id, api_key = create_tenant(options.url, admin_token)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    workload = Workload(
        url=options.url,
        api_key=api_key,
        concurrency=options.concurrency,
        duration_s=options.duration,
        requests=options.requests,
        warmup_s=options.warmup,
        new_ratio=options.new_ratio,
        seed=options.seed,
        timeout_s=options.timeout,
    )
    amount = f"{options.duration:g} s" if options.requests is None else f"{options.requests} calls"
    log(
        f"tenant {tenant_id}; concurrency {options.concurrency} over {options.processes} process(es); "
        f"warm-up {options.warmup:g} s, then {amount}"
    )
    result = merge(run_workers(workload, options.processes))
    emit_report(report(workload, options.processes, result), options.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""bench.identify's Python load generator: closed-loop httpx callers in one or more processes.

Kept apart from bench/identify.py (which also drives ``wrk``, see bench/_wrk.py) so that each module
stays readable; the workload is bench.identify's, described in its docstring. The phone numbers,
bodies and re-identification rule here are the reference that bench/_wrk_scripts.py follows in Lua.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import random
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from multiprocessing.synchronize import Barrier

import httpx

from bench._common import fast_httpcore, run_on_uvloop

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
def phone_offset(seed: int) -> int:
    """The seed's shift of the phone numbers (the same for every process and generator)."""
    return random.Random(seed).randrange(PHONE_SPACE)


def phone_number(index: int, seed: int) -> str:
    """The ``index``-th customer's mobile number: ``+86139`` and 8 digits, distinct for distinct indexes."""
    return f"+86139{(index * PHONE_STRIDE + phone_offset(seed)) % PHONE_SPACE:08d}"


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


_barrier: Barrier | None = None


def _init_worker(barrier: Barrier) -> None:
    global _barrier
    _barrier = barrier


def _worker_main(workload: Workload) -> WorkerResult:
    """Entry of a load-generator process: wait for the others, then drive its share."""
    if _barrier is not None:
        _barrier.wait(BARRIER_TIMEOUT_S)
    return run_on_uvloop(drive(workload))


def split(total: int, parts: int, part: int) -> int:
    """Part ``part`` of ``total`` shared as evenly as possible among ``parts``."""
    return total // parts + (1 if part < total % parts else 0)


def run_workers(workload: Workload, processes: int) -> list[WorkerResult]:
    """Drive ``workload`` from ``processes`` processes (in this process when 1) and collect the results."""
    if processes == 1:
        return [run_on_uvloop(drive(workload))]
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

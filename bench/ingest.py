"""Benchmark: behaviour-event ingest, ``POST /v1/events``, in batches and one event per call.

Runs against a system already started with ``patron up`` and prints one JSON object on stdout.
The targets of docs/product.md (2 cores, everything on one machine): **>= 20,000 events/s** through the batch
API (>= 500 events a call, committed with their outbox events) and **>= 2,000 single-event calls/s
with p99 <= 50 ms**.

The workload (the defaults *are* the workload; change them only to explore):

- a fresh tenant per run and ``--customers`` (1,000) customers created first by identify
  (``app_user_id`` ``ingest-<n>``); every event names one of them, uniformly, by ``customer_id``;
- every event is new (ids ``<phase>-<caller>-<n>``), of a type drawn from view / search /
  add_to_cart / favorite, ``occurred_at`` now, with small properties (``sku``, ``price_minor``);
- **batch** phases, one per ``--batch-sizes`` (500 and 1,000 events a call): ``--batch-concurrency``
  (4) callers in a closed loop, each with its own keep-alive connection, for ``--duration`` seconds
  (15) after ``--warmup`` (2); reported as stored events/s, calls/s and call latency;
- **single** phase: ``--single-concurrency`` (64) callers sending one event a call, same timing;
  reported as calls/s and latency p50/p90/p99/max;
- a call answering non-2xx (or an event not accepted) is counted under ``errors``;
- ``cpu_pct``: CPU each process of the system used during the phase, in % of one core (read from
  ``/proc``: the services are the processes whose stdout is ``<home>/logs/<name>.log``, PostgreSQL
  the server whose data directory is ``<home>/pgdata`` and its backends), and the load generator's.

Run from the repository root, with the system up::

    python -m bench.ingest [--url http://127.0.0.1:8080] [--home .patron] [--output results/ingest.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

if not __package__:  # run as a script (python bench/ingest.py): make the bench package importable
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
    positive_int,
)

TARGET = {"batch_events_per_s": 20_000, "single_calls_per_s": 2000, "single_p99_ms": 50}
EVENT_TYPES = ("view", "search", "add_to_cart", "favorite")
SETUP_CONCURRENCY = 16
TRANSPORT_ERROR_PAUSE_S = 0.01


@dataclass
class PhaseResult:
    """What one phase measured (warm-up excluded)."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    events: int = 0
    elapsed_s: float = 0.0


class ProcessCpu:
    """CPU seconds of the system's processes, found under ``/proc`` from its home (Linux only)."""

    def __init__(self, home: Path) -> None:
        self.home = home.resolve()
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _processes(self) -> dict[int, str]:
        named: dict[int, str] = {}
        postmasters: set[int] = set()
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            with contextlib.suppress(OSError):
                stdout = os.readlink(entry / "fd" / "1")
                if stdout.startswith(str(self.home / "logs")) and stdout.endswith(".log"):
                    named[pid] = Path(stdout).stem
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[pid] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if str(self.home / "pgdata") in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    postmasters.add(pid)
        for pid, parent in parents.items():
            if pid in postmasters or parent in postmasters:
                named[pid] = "postgres"
        return named

    def sample(self) -> dict[str, float]:
        """CPU seconds used so far, by process name (all PostgreSQL processes summed)."""
        ticks: Counter[str] = Counter()
        for pid, name in self._processes().items():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks[name] += int(fields[11]) + int(fields[12])  # utime + stime
        return {name: count / self._tick for name, count in ticks.items()}


def _event(event_id: str, customer_id: str, rng: random.Random, now: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": rng.choice(EVENT_TYPES),
        "occurred_at": now,
        "customer_id": customer_id,
        "properties": {"sku": f"SKU-{rng.randrange(5000)}", "price_minor": rng.randrange(100, 100_000)},
    }


async def create_customers(
    url: str, api_key: str, count: int, call_timeout_s: float, attributes: dict[str, str] | None = None
) -> list[str]:
    """``count`` customers of the bench tenant, by identify (with ``attributes``); their ids."""
    headers = {"Authorization": f"Bearer {api_key}"}
    ids: list[str] = [""] * count
    next_index = itertools.count()

    async def worker(client: httpx.AsyncClient) -> None:
        while (index := next(next_index)) < count:
            body: dict[str, Any] = {"identities": [{"type": "app_user_id", "value": f"ingest-{index}"}]}
            if attributes:
                body["attributes"] = attributes
            response = await client.post("/v1/customers/identify", json=body)
            if response.status_code != 200:
                raise BenchError(f"identify answered {response.status_code}: {response.text[:300]}")
            ids[index] = response.json()["customer_id"]

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=call_timeout_s) as client:
        await asyncio.gather(*(worker(client) for _ in range(SETUP_CONCURRENCY)))
    return ids


async def run_phase(
    url: str,
    api_key: str,
    customers: list[str],
    *,
    name: str,
    batch_size: int,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    timeout_s: float,
    seed: int,
) -> PhaseResult:
    """Closed-loop callers, each on its own keep-alive connection, sending new events only."""
    fast_httpcore()
    result = PhaseResult()
    measure_from = time.perf_counter() + warmup_s
    stop_at = measure_from + duration_s
    last_done = measure_from
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60.0)

    async def caller(client: httpx.AsyncClient, number: int) -> None:
        nonlocal last_done
        rng = random.Random(f"{seed}/{name}/{number}")
        for sequence in itertools.count():
            started = time.perf_counter()
            if started >= stop_at:
                return
            now = datetime.now(UTC).isoformat()
            events = [
                _event(f"{name}-{number}-{sequence}-{i}", rng.choice(customers), rng, now)
                for i in range(batch_size)
            ]
            content = json.dumps({"events": events}, separators=(",", ":")).encode()
            measured = started >= measure_from
            try:
                response = await client.post("/v1/events", content=content)
            except (httpx.HTTPError, OSError) as error:
                if measured:
                    result.calls += 1
                    result.errors[type(error).__name__] += 1
                await asyncio.sleep(TRANSPORT_ERROR_PAUSE_S)
                continue
            done = time.perf_counter()
            if not measured:
                continue
            result.calls += 1
            last_done = max(last_done, done)
            if response.status_code != 200:
                result.errors[str(response.status_code)] += 1
                continue
            accepted = int(response.json()["accepted"])
            if accepted != batch_size:
                result.errors["not_accepted"] += batch_size - accepted
            result.events += accepted
            result.latencies_ms.append((done - started) * 1000.0)

    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=timeout_s)
            )
            for _ in range(concurrency)
        ]
        await asyncio.gather(*(caller(client, i) for i, client in enumerate(clients)))
    result.elapsed_s = last_done - measure_from
    return result


def phase_report(name: str, batch_size: int, concurrency: int, result: PhaseResult) -> dict[str, Any]:
    elapsed = result.elapsed_s
    ok = len(result.latencies_ms)
    return {
        "phase": name,
        "events_per_call": batch_size,
        "concurrency": concurrency,
        "duration_s": round(elapsed, 3),
        "calls": result.calls,
        "ok_calls": ok,
        "errors": dict(sorted(result.errors.items())),
        "calls_per_s": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "events_per_s": round(result.events / elapsed, 1) if elapsed > 0 else 0.0,
        "latency_ms": latency_summary(result.latencies_ms),
    }


async def measure(options: argparse.Namespace, api_key: str) -> list[dict[str, Any]]:
    """Every phase in turn, each with the CPU its processes used while it ran."""
    log(f"creating {options.customers} customers")
    customers = await create_customers(options.url, api_key, options.customers, options.timeout)
    phases = [(f"batch{size}", size, options.batch_concurrency) for size in options.batch_sizes]
    phases.append(("single", 1, options.single_concurrency))
    cpu = ProcessCpu(options.home)
    reports = []
    for name, size, concurrency in phases:
        if options.only and name not in options.only:
            continue
        log(f"{name}: {size} event(s) a call, {concurrency} callers, {options.duration:g} s")
        task = asyncio.create_task(
            run_phase(
                options.url,
                api_key,
                customers,
                name=name,
                batch_size=size,
                concurrency=concurrency,
                warmup_s=options.warmup,
                duration_s=options.duration,
                timeout_s=options.timeout,
                seed=options.seed,
            )
        )
        await asyncio.sleep(options.warmup)
        before, own_before, wall_before = cpu.sample(), time.process_time(), time.perf_counter()
        await asyncio.sleep(options.duration)
        after, own_after, wall = cpu.sample(), time.process_time(), time.perf_counter() - wall_before
        result = await task
        report = phase_report(name, size, concurrency, result)
        report["cpu_pct"] = {
            process: round(100.0 * (after[process] - before.get(process, 0.0)) / wall, 1)
            for process in sorted(after)
        }
        report["cpu_pct"]["load_generator"] = round(100.0 * (own_after - own_before) / wall, 1)
        reports.append(report)
    return reports


def _batch_size(text: str) -> int:
    value = positive_int(text)
    if value > 1000:
        raise argparse.ArgumentTypeError("must be at most 1000 (the API's limit)")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; the defaults are the benchmark's fixed workload."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gateway URL (default {DEFAULT_URL})")
    parser.add_argument("--admin-token", default=None, help="admin token (default: as bench.identify)")
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("PATRON_HOME", ".patron")),
        help="the system's PATRON_HOME, to find its processes for cpu_pct (default $PATRON_HOME or .patron)",
    )
    parser.add_argument("--customers", type=positive_int, default=1000, help="customers events name (1000)")
    parser.add_argument(
        "--batch-sizes",
        type=_batch_size,
        nargs="+",
        default=[500, 1000],
        help="events a batch call (500 1000)",
    )
    parser.add_argument("--batch-concurrency", type=positive_int, default=4, help="batch callers (4)")
    parser.add_argument("--single-concurrency", type=positive_int, default=64, help="single callers (64)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per phase (15)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds unmeasured first, per phase (2)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-call timeout, s (30)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the event choices (1)")
    parser.add_argument("--only", nargs="+", default=None, help="run only these phases (batch500 ... single)")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON report here")
    options = parser.parse_args(argv)
    if options.duration <= 0 or options.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    return options


def main(argv: list[str] | None = None) -> int:
    """Entry point: create a tenant and its customers, run the phases, print the report."""
    options = parse_args(argv)
    try:
        admin_token = load_admin_token(options.admin_token)
        tenant_id, api_key = create_tenant(options.url, admin_token, prefix="bench-ingest")
        log(f"tenant {tenant_id}")
        phases = asyncio.run(measure(options, api_key))
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    emit_report(
        {
            "benchmark": "ingest",
            "url": options.url,
            "customers": options.customers,
            "warmup_s": options.warmup,
            "phases": phases,
            "target": TARGET,
            "machine": machine_info(),
        },
        options.output,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

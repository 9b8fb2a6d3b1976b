"""Benchmark: ``GET /v1/customers/{id}/360`` through the gateway at a fixed arrival rate.

The target (DESIGN.md): **p99 ≤ 20 ms at 300 calls/s**, the gateway fanning out to all four services.
The load is open-loop: call ``i`` is due at ``start + i / rate`` whether or not earlier calls have
been answered, and its latency runs from when it was due (so a stall is not hidden by callers that
wait for it — no coordinated omission). Prints one JSON object on stdout.

The workload (the defaults *are* the workload):

- a fresh tenant; 200 customers (``--customers``) identified by e-mail with a city, each given 100
  points by an adjustment and one coupon, so that every section has something to read; then a wait
  of up to 30 s (``--settle``) until the system's processes (found from ``--home``) together use
  less than a quarter of a core: the consumers apply the seeding's events, which would otherwise
  share the cores with the first seconds measured;
- 3 s at the rate not measured (``--warmup``), then 20 s measured (``--duration``) at 300 calls/s
  (``--rate``), each call for a customer drawn uniformly (``--seed``);
- at most 64 calls in flight (``--connections`` keep-alive connections); a call that finds none free
  waits, and its wait counts in its latency;
- a call is an error unless it answers 200 with ``complete: true`` (a degraded answer is an error
  here: the figure is for the whole 360);
- the generator is this process (``bench._http11``'s lean client on uvloop); its CPU is reported
  beside the system's processes' in ``cpu_pct``.

Run from the repository root, with the system up (``patron up``)::

    python -m bench.customer_360 [--url http://127.0.0.1:8080] [--output results/customer_360.json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

if not __package__:  # run as a script: make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._bounds import cpu_pct, settle
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
    run_on_uvloop,
)
from bench._cpu import process_cpu_s
from bench._http11 import HttpError, KeepAliveConnection
from bench.ingest import ProcessCpu

TARGET = {"calls_per_s": 300, "p99_ms": 20}
SEED_CONCURRENCY = 16
CALL_TIMEOUT_S = 10.0


async def _seed_customer(client: httpx.AsyncClient, index: int, template_id: str) -> str:
    body = {
        "identities": [{"type": "email", "value": f"c360-{index}@bench.example"}],
        "attributes": {"city": "Hangzhou"},
    }
    identified = await client.post("/v1/customers/identify", json=body)
    identified.raise_for_status()
    customer = str(identified.json()["customer_id"])
    adjusted = await client.post(
        f"/v1/customers/{customer}/points/adjustments", json={"points": 100, "reason": "bench"}
    )
    adjusted.raise_for_status()
    coupon = await client.post(f"/v1/customers/{customer}/coupons", json={"template_id": template_id})
    coupon.raise_for_status()
    return customer


async def seed(client: httpx.AsyncClient, count: int) -> list[str]:
    """``count`` customers with points and a coupon each."""
    template = await client.post(
        "/v1/coupon-templates", json={"kind": "no_threshold", "discount_minor": 500, "valid_days": 30}
    )
    template.raise_for_status()
    template_id = str(template.json()["template_id"])
    gate = asyncio.Semaphore(SEED_CONCURRENCY)

    async def one(index: int) -> str:
        async with gate:
            return await _seed_customer(client, index, template_id)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


class _Load:
    """The open-loop schedule, the callers that keep it, and what they measured.

    Each of the ``connections`` callers owns one keep-alive connection (``bench._http11``) and
    takes the next due call from the shared schedule. A shared httpx pool of 64 made httpcore scan
    every pooled connection for every request (about 10 ms of generator CPU a call): at 300 calls/s
    the generator, not the system, was what got measured.
    """

    def __init__(self, customers: list[str], rng: random.Random, rate: float, warmup_s: float) -> None:
        self.customers, self.rng, self.rate = customers, rng, rate
        self.warmup_s = warmup_s
        self.latencies_ms: list[float] = []
        self.errors: Counter[str] = Counter()
        self.sent = 0
        self._next = 0
        self._total = 0
        self._start = 0.0

    def _take(self) -> tuple[float, bool] | None:
        """The next call's due time and whether it is measured; None when the schedule is done."""
        if self._next >= self._total:
            return None
        due = self._start + self._next / self.rate
        self._next += 1
        measured = due >= self._start + self.warmup_s
        self.sent += measured
        return due, measured

    async def _caller(self, connection: KeepAliveConnection) -> None:
        while (taken := self._take()) is not None:
            due, measured = taken
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            customer = self.rng.choice(self.customers)
            try:
                status, body = await connection.get(f"/v1/customers/{customer}/360")
            except HttpError as error:
                if measured:
                    self.errors[str(error)] += 1
                continue
            done = time.perf_counter()
            if not measured:
                continue
            if status != 200:
                self.errors[str(status)] += 1
            elif b'"complete":true' not in body:
                self.errors["degraded"] += 1
            else:
                self.latencies_ms.append((done - due) * 1000.0)

    async def run(self, connections: list[KeepAliveConnection], duration_s: float) -> None:
        """Keep the schedule (warm-up, then ``duration_s`` measured) with one caller per connection."""
        self._start = time.perf_counter()
        self._total = int((self.warmup_s + duration_s) * self.rate)
        await asyncio.gather(*(self._caller(connection) for connection in connections))


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    fast_httpcore()
    _, api_key = create_tenant(args.url, load_admin_token(args.admin_token), prefix="bench-360")
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=args.url, headers=headers, timeout=10) as client:
        log(f"seeding {args.customers} customers")
        customers = await seed(client, args.customers)
    system = ProcessCpu(args.home)
    log(f"waiting up to {args.settle} s for the system to apply the seeding's events")
    quiet = await asyncio.to_thread(settle, system.sample, at_most_s=args.settle)
    log(f"calling at {args.rate}/s: {args.warmup} s warm-up, {args.duration} s measured")
    load = _Load(customers, random.Random(args.seed), args.rate, args.warmup)
    connections = [KeepAliveConnection(args.url, headers, CALL_TIMEOUT_S) for _ in range(args.connections)]
    try:
        began, cpu_before = time.monotonic(), _cpu_seconds(system)
        await load.run(connections, args.duration)
        elapsed = time.monotonic() - began
        cpu_after = _cpu_seconds(system)
    finally:
        for connection in connections:
            await connection.close()
    succeeded = len(load.latencies_ms)
    return {
        "benchmark": "customer_360",
        "run_id": str(uuid.uuid4()),
        "target": TARGET,
        "workload": {
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "customers": args.customers,
            "connections": args.connections,
            "seed": args.seed,
        },
        "calls_sent": load.sent,
        "calls_per_s": round(succeeded / args.duration, 1),
        "latency_ms": latency_summary(load.latencies_ms),
        "errors": dict(load.errors),
        "cpu_pct": cpu_pct(cpu_before, cpu_after, elapsed),
        "settle": quiet,
        "machine": machine_info(),
    }


def _cpu_seconds(system: ProcessCpu) -> dict[str, float]:
    """CPU seconds so far of the system's processes and of this one (the load generator)."""
    return {**system.sample(), "load_generator": process_cpu_s(os.getpid()) or 0.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--admin-token", default=None)
    parser.add_argument("--rate", type=positive_float, default=300.0)
    parser.add_argument("--duration", type=positive_float, default=20.0)
    parser.add_argument("--warmup", type=positive_float, default=3.0)
    parser.add_argument("--customers", type=positive_int, default=200)
    parser.add_argument("--connections", type=positive_int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--settle",
        type=float,
        default=30.0,
        help="after seeding, wait up to this many seconds for a quiet system (30; 0: not at all)",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("PATRON_HOME", ".patron")),
        help="the system's PATRON_HOME, to find its processes for cpu_pct (default $PATRON_HOME or .patron)",
    )
    parser.add_argument("--output", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run_on_uvloop(main_async(args))
    except BenchError as error:
        log(f"error: {error}")
        return 2
    emit_report(report, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""bench.ingest's Python load generator: closed-loop httpx callers in this process, one phase at a time.

Kept apart from bench/ingest.py (which also drives ``wrk``, see bench/_ingest_wrk.py) so that each
module stays readable; the workload is bench.ingest's, described in its docstring.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx

from bench._bounds import Probe, cpu_pct
from bench._common import fast_httpcore, latency_summary

EVENT_TYPES = ("view", "search", "add_to_cart", "favorite")
TRANSPORT_ERROR_PAUSE_S = 0.01


@dataclass
class PhaseResult:
    """What one phase measured (warm-up excluded)."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    events: int = 0
    elapsed_s: float = 0.0


class Phase(NamedTuple):
    """A phase of the run: its name, events a call, and callers."""

    name: str
    batch_size: int
    concurrency: int


class Timing(NamedTuple):
    """How every phase runs, whichever generator drives it: warm-up and measured seconds, each
    call's timeout, and the seed of the bodies."""

    warmup_s: float
    duration_s: float
    timeout_s: float
    seed: int

    @classmethod
    def of(cls, options: argparse.Namespace) -> Timing:
        """The timing the command line asked for."""
        return cls(options.warmup, options.duration, options.timeout, options.seed)


def _event(event_id: str, customer_id: str, rng: random.Random, now: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": rng.choice(EVENT_TYPES),
        "occurred_at": now,
        "customer_id": customer_id,
        "properties": {"sku": f"SKU-{rng.randrange(5000)}", "price_minor": rng.randrange(100, 100_000)},
    }


async def run_phase(
    url: str, api_key: str, customers: list[str], phase: Phase, timing: Timing
) -> PhaseResult:
    """Closed-loop callers, each on its own keep-alive connection, sending new events only."""
    name, batch_size, concurrency = phase
    warmup_s, duration_s, timeout_s, seed = timing
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
    """The figures of one phase: calls, events and latency per second of its measured window."""
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


async def python_phase(
    options: argparse.Namespace, url: str, api_key: str, customers: list[str], phase: Phase, probe: Probe
) -> dict[str, Any]:
    """One phase with the Python generator, with the CPU ``probe``'s processes used while it ran."""
    task = asyncio.create_task(run_phase(url, api_key, customers, phase, Timing.of(options)))
    await asyncio.sleep(options.warmup)
    before, own_before, wall_before = probe(), time.process_time(), time.perf_counter()
    await asyncio.sleep(options.duration)
    after, own_after, wall = probe(), time.process_time(), time.perf_counter() - wall_before
    result = await task
    report = phase_report(phase.name, phase.batch_size, phase.concurrency, result)
    own = 100.0 * (own_after - own_before) / wall
    report["generator"] = {
        "tool": "python",
        "processes": 1,
        "connections": phase.concurrency,
        "cpu_s": round(own_after - own_before, 3),
        "cpu_pct_of_core": round(own, 1),
        "cpu_pct_of_machine": round(own / (os.cpu_count() or 1), 1),
    }
    report["cpu_pct"] = {
        **dict(sorted(cpu_pct(before, after, wall).items())),
        "load_generator": round(own, 1),
    }
    return report

"""Benchmark: what the audit log adds to an audited call, against a system already running.

A points adjustment (``POST .../points/adjustments``, audited: a requested and an outcome entry are
written to the profile service's log around the loyalty call) is timed against a redemption
(``POST .../points/redemptions``, not audited) of the same size on the same customers: both are one
loyalty ``MovePoints`` call behind the gateway, so the difference of their latencies is the audit's
cost (two profile RPCs, each one INSERT) plus the small difference between crediting a lot and
spending one. Prints one JSON object on stdout.

The workload (the defaults *are* the workload; change them only to explore):

- a fresh tenant per run (``bench-audit-<UTC timestamp>``), one customer per caller, each credited
  1,000,000 points first (not measured);
- 1 caller (``--concurrency``): the added latency alone, not a contest for the CPU; each caller
  alternates an adjustment of +1 point and a redemption of 1 point on its own customer, back to
  back, so both kinds see the same conditions;
- 2 s warm-up (``--warmup``, not measured), then 15 s measured (``--duration``);
- every call has a 10 s timeout (``--timeout``); a non-2xx answer is an error, counted by status.

Run from the repository root, with the system up::

    python -m bench.audit [--url http://127.0.0.1:8080] [--output results/audit.json]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

if not __package__:  # run as a script (python bench/audit.py): make the bench package importable
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

OPENING_BALANCE = 1_000_000
KINDS = {"audited": "adjustments", "plain": "redemptions"}


@dataclass
class Samples:
    """Latencies (ms) of the successful calls of each kind, and the failures by kind and status."""

    ms: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    errors: Counter[str] = field(default_factory=Counter)


async def _customer(client: httpx.AsyncClient, index: int) -> str:
    body = {"identities": [{"type": "external_id", "value": f"bench-audit-{index}"}]}
    response = await client.post("/v1/customers/identify", json=body)
    if response.status_code != 200:
        raise BenchError(f"identify answered {response.status_code}: {response.text[:300]}")
    customer: str = response.json()["customer_id"]
    credit = {"points": OPENING_BALANCE, "reason": "bench opening balance"}
    response = await client.post(f"/v1/customers/{customer}/points/adjustments", json=credit)
    if response.status_code != 201:
        raise BenchError(f"the opening credit answered {response.status_code}: {response.text[:300]}")
    return customer


async def _caller(
    client: httpx.AsyncClient, customer: str, until: float, measure_from: float, samples: Samples
) -> None:
    bodies = {"audited": {"points": 1, "reason": "bench"}, "plain": {"points": 1, "reason": "bench"}}
    while time.perf_counter() < until:
        for kind, route in KINDS.items():
            started = time.perf_counter()
            response = await client.post(f"/v1/customers/{customer}/points/{route}", json=bodies[kind])
            elapsed_ms = (time.perf_counter() - started) * 1000
            if started < measure_from:
                continue
            if response.status_code == 201:
                samples.ms[kind].append(elapsed_ms)
            else:
                samples.errors[f"{kind}:{response.status_code}"] += 1


async def run(options: argparse.Namespace) -> dict[str, Any]:
    tenant_id, api_key = create_tenant(options.url, load_admin_token(options.admin_token), "bench-audit")
    log(f"tenant {tenant_id}; {options.concurrency} caller(s), {options.warmup}+{options.duration} s")
    headers = {"Authorization": f"Bearer {api_key}"}
    clients = [
        httpx.AsyncClient(base_url=options.url, headers=headers, timeout=options.timeout)
        for _ in range(options.concurrency)
    ]
    samples = Samples()
    try:
        customers = [await _customer(client, index) for index, client in enumerate(clients)]
        start = time.perf_counter()
        measure_from, until = start + options.warmup, start + options.warmup + options.duration
        await asyncio.gather(
            *(
                _caller(c, customer, until, measure_from, samples)
                for c, customer in zip(clients, customers, strict=True)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    audited, plain = latency_summary(samples.ms["audited"]), latency_summary(samples.ms["plain"])
    overhead = {
        cut: round(a - p, 3) if (a := audited[cut]) is not None and (p := plain[cut]) is not None else None
        for cut in ("p50", "p90", "p99")
    }
    return {
        "benchmark": "audit",
        "workload": {
            "concurrency": options.concurrency,
            "warmup_s": options.warmup,
            "duration_s": options.duration,
            "audited": "POST /v1/customers/{id}/points/adjustments {points: 1}",
            "plain": "POST /v1/customers/{id}/points/redemptions {points: 1}",
        },
        "calls": {kind: len(values) for kind, values in samples.ms.items()},
        "latency_ms": {"audited": audited, "plain": plain},
        "audit_overhead_ms": overhead,
        "errors": dict(samples.errors),
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--admin-token")
    parser.add_argument("--concurrency", type=positive_int, default=1)
    parser.add_argument("--warmup", type=positive_float, default=2.0)
    parser.add_argument("--duration", type=positive_float, default=15.0)
    parser.add_argument("--timeout", type=positive_float, default=10.0)
    parser.add_argument("--output", type=Path)
    options = parser.parse_args(argv)
    fast_httpcore()
    try:
        report = asyncio.run(run(options))
    except BenchError as error:
        log(str(error))
        return 1
    emit_report(report, options.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

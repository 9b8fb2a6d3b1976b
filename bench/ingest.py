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

The load generator (``--generator``): **wrk** by default when it is installed (bench/_ingest_wrk.py:
the same bodies built in Lua, ``--wrk-threads`` 1, the warm-up a wrk run of its own), else
**python** (httpx callers in this process). Each phase's ``generator`` says what it took itself: CPU
in % of one core and of the machine.

The bounds (``--bounds``, on by default; bench/_bounds.py): after the gateway's phases, the same
phases run against a no-database FastAPI endpoint (``nodb_http``) and against the same endpoint
forwarding each call over gRPC to an echo server in another process (``nodb_grpc``), with the same
generator; each phase then carries ``bounds``, ``ratio_to_bound`` (events/s for batches, calls/s for
single events, as a share of each bound) and ``target_applied``: the absolute target, or 50 % of
``nodb_grpc`` (for single events also twice its p99) when that asks less.

After each batch phase the run waits (up to ``--catch-up`` seconds, 300) until every consumer of
profile's events has applied what the phase stored (bench/_catch_up.py): the phase's ``consumers``
gives their lag when it ended, the wait, and ``applied_events_per_s``, the rate at which the whole
system, consumers included, took in the phase's events.

Before each phase (the bounds' too) the run waits, up to ``--settle`` seconds (30), until the
system's processes use less than a quarter of one core together: the events of the previous phase
are still being consumed for a while, and would share the cores with the next measurement. Each
phase's ``settle`` says how long it waited.

Run from the repository root, with the system up::

    python -m bench.ingest [--url http://127.0.0.1:8080] [--home .patron] [--output results/ingest.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

if not __package__:  # run as a script (python bench/ingest.py): make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._bounds import (
    BOUNDS,
    Probe,
    add_bound_options,
    bound_server,
    ratios,
    settle,
    stop_on_sigterm,
    target_applied,
)
from bench._catch_up import catch_up
from bench._common import (
    DEFAULT_URL,
    BenchError,
    create_tenant,
    emit_report,
    load_admin_token,
    log,
    machine_info,
    positive_int,
)
from bench._ingest_python import EVENT_TYPES, Phase, Timing, python_phase
from bench._ingest_wrk import wrk_phase
from bench._wrk import wrk_path

TARGET = {"batch_events_per_s": 20_000, "single_calls_per_s": 2000, "single_p99_ms": 50}
SETUP_CONCURRENCY = 16


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


def phases_of(options: argparse.Namespace) -> list[Phase]:
    """The phases the command line asks for, in order: batches, then single events."""
    phases = [Phase(f"batch{size}", size, options.batch_concurrency) for size in options.batch_sizes]
    phases.append(Phase("single", 1, options.single_concurrency))
    return [phase for phase in phases if not options.only or phase.name in options.only]


def measure(
    options: argparse.Namespace,
    url: str,
    api_key: str,
    customers: list[str],
    probe: Probe,
    system: Probe,
    consumers: bool = False,
) -> list[dict[str, Any]]:
    """Every phase in turn against ``url``, each with the CPU ``probe``'s processes used, each once
    the system's processes (``system``) are quiet (``settle``); with ``consumers``, each batch phase
    also says how long the consumers took to apply what it stored (``bench._catch_up``)."""
    reports = []
    for phase in phases_of(options):
        quiet = settle(system, at_most_s=options.settle)
        log(f"{phase.name} at {url}: {phase.batch_size} event(s) a call, {phase.concurrency} callers")
        if options.generator == "python":
            report = asyncio.run(python_phase(options, url, api_key, customers, phase, probe))
        else:
            report = wrk_phase(
                url,
                api_key,
                customers,
                phase,
                Timing.of(options),
                event_types=EVENT_TYPES,
                threads=options.wrk_threads,
                probe=probe,
            )
        if consumers and phase.batch_size > 1:
            report["consumers"] = catch_up(
                report["events_per_s"] * report["duration_s"], report["duration_s"], options.catch_up
            )
        reports.append({**report, "settle": quiet})
    return reports


def compare(phases: list[dict[str, Any]], bounds: dict[str, list[dict[str, Any]]]) -> None:
    """Give each of the gateway's phases its bounds, its ratio to them and the target that applies."""
    for phase in phases:
        single = phase["events_per_call"] == 1
        key = "calls_per_s" if single else "events_per_s"
        mine = {name: next(p for p in runs if p["phase"] == phase["phase"]) for name, runs in bounds.items()}
        phase["bounds"] = mine or None
        phase["ratio_to_bound"] = ratios(phase[key], mine, key) if mine else None
        phase["target_applied"] = target_applied(
            phase,
            mine.get("nodb_grpc"),
            rate_key=key,
            rate=TARGET["single_calls_per_s"] if single else TARGET["batch_events_per_s"],
            p99_ms=TARGET["single_p99_ms"] if single else None,
        )


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
    parser.add_argument(
        "--generator",
        choices=("wrk", "python"),
        default="wrk" if wrk_path() else "python",
        help="load generator (wrk when installed, else python)",
    )
    parser.add_argument(
        "--catch-up",
        type=float,
        default=300.0,
        help="seconds to wait at most, after a batch phase, for the consumers to apply it (300)",
    )
    add_bound_options(parser, "phase")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON report here")
    options = parser.parse_args(argv)
    if options.generator == "wrk" and wrk_path() is None:
        parser.error("wrk is not installed (apt-get install wrk); use --generator python")
    if options.duration <= 0 or options.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    return options


def main(argv: list[str] | None = None) -> int:
    """Entry point: create a tenant and its customers, run the phases, print the report."""
    options = parse_args(argv)
    try:
        admin_token = load_admin_token(options.admin_token)
        tenant_id, api_key = create_tenant(options.url, admin_token, prefix="bench-ingest")
        log(f"tenant {tenant_id}; generator {options.generator}; creating {options.customers} customers")
        customers = asyncio.run(create_customers(options.url, api_key, options.customers, options.timeout))
        system = ProcessCpu(options.home).sample
        with stop_on_sigterm():
            phases = measure(options, options.url, api_key, customers, system, system, consumers=True)
            bounds: dict[str, list[dict[str, Any]]] = {}
            for name in BOUNDS if options.bounds else ():
                with bound_server(name, api_key, tenant_id) as server:
                    bounds[name] = measure(options, server.url, api_key, customers, server.cpu_s, system)
        compare(phases, bounds)
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

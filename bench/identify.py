"""Benchmark: ``POST /v1/customers/identify`` through the gateway, at a fixed concurrency.

Measures successful calls per second and p50/p90/p99/max latency against a system already running
(``patron up``), and prints one JSON object on stdout. The target in docs/product.md for a
single-event API call is >= 2,000 calls/s with p99 <= 50 ms (2 cores, everything on one machine).

The workload (the defaults *are* the workload; change them only to explore):

- a fresh tenant per run (``POST /v1/admin/tenants``, name ``bench-<UTC timestamp>``);
- 64 concurrent callers (``--concurrency``), each with its own keep-alive HTTP/1.1 connection,
  issuing calls back to back (closed loop: a caller sends its next call when the previous one is
  answered);
- 3 s warm-up (``--warmup``, not measured), then 20 s measured (``--duration``), or ``--requests N``;
- each call identifies a customer by two identities, a Chinese mobile number and an e-mail address::

      {"identities": [{"type": "phone", "value": "+8613912345678"},
                      {"type": "email", "value": "u42@bench.example"}]}

  with probability 0.5 (``--new-ratio``) a never-seen customer (the call creates it and both
  identities), otherwise, uniformly, a customer this run has already created (the call only finds
  it). Re-identification starts once 4 customers per caller were created (during the warm-up at the
  defaults), so that callers seldom contend for one customer's locks;
- phone numbers are ``+86 139`` and 8 digits, a bijection of the customer's index shifted by the
  seed (``--seed``, default 1): a run never repeats a number, and every one is a valid CN mobile;
- every call has a 10 s timeout (``--timeout``). A non-2xx answer or a transport failure is an error,
  counted by status code (or exception name, or wrk's socket error kind); latency percentiles are
  over the successful calls with the Python generator, over every answered call with wrk (which
  records a latency before its script sees the status).

The load generator (``--generator``): **wrk** by default when it is installed (bench/_wrk.py: a
compiled generator, the bodies built in Lua as bench/_wrk_scripts.py describes; its threads
``--wrk-threads``, 1), else **python**: httpx callers in ``--processes`` processes
(bench/_identify_python.py; with more than one, the concurrency is split across them and their
samples merged), the only one that can stop after ``--requests``. Either way the report's
``generator`` says what it took itself: CPU in % of one core and of the machine (the system under
test shares the machine's cores with it).

The bounds (``--bounds``, on by default; bench/_bounds.py): the same run then measures, with the same
generator and workload, a no-database FastAPI endpoint (``nodb_http``) and the same endpoint
forwarding each call over gRPC to an echo server in another process (``nodb_grpc``), and reports
``bounds``, ``ratio_to_bound`` (our calls/s as a share of each) and ``target_applied``: the absolute
target, or 50 % of ``nodb_grpc`` (half its calls/s, twice its p99) when that asks less.

Before each target the run waits, up to ``--settle`` seconds (30), until the system's processes
(found from ``--home``, as bench.ingest finds them) use less than a quarter of one core: the load
just put on the gateway leaves work behind (event consumers), which would otherwise share the cores
with the next measurement. Each target's ``settle`` says how long it waited.

Run from the repository root, with the system up::

    python -m bench.identify [--url http://127.0.0.1:8080] [--output results/identify.json]

(``python bench/identify.py`` works too.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python bench/identify.py): make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._bounds import (
    BOUNDS,
    Probe,
    add_bound_options,
    bound_server,
    cpu_pct,
    ratios,
    settle,
    stop_on_sigterm,
    target_applied,
)
from bench._common import (
    DEFAULT_URL,
    BenchError,
    create_tenant,
    emit_report,
    latency_summary,
    load_admin_token,
    log,
    machine_info,
    positive_float,
    positive_int,
)
from bench._identify_python import (
    KNOWN_PER_CALLER,
    PHONE_SPACE,
    PHONE_STRIDE,
    Workload,
    identify_body,
    merge,
    phone_number,
    phone_offset,
    run_workers,
)
from bench._wrk import WrkResult, WrkRun, run_wrk, wrk_path
from bench._wrk_scripts import IDENTIFY_LUA, carried, identify_params
from bench.ingest import ProcessCpu

__all__ = ["Workload", "identify_body", "main", "phone_number"]

TARGET = {"calls_per_s": 2000, "p99_ms": 50}


def python_measure(workload: Workload, processes: int, probe: Probe | None = None) -> dict[str, Any]:
    """Drive ``workload`` with the Python generator; the figures and what the generator took.

    ``probe`` (a bound's processes' CPU) is read around the whole run, since the generator's
    processes decide when measurement starts; its CPU is divided by the warm-up and the measured
    window (the bound idles while the generator's processes start), so it includes the warm-up's.
    """
    cpu_before = probe() if probe else {}
    result = merge(run_workers(workload, processes))
    busy_s = workload.warmup_s + result.elapsed_s
    cpu = cpu_pct(cpu_before, probe(), busy_s) if probe else None
    ok, elapsed = len(result.latencies_ms), result.elapsed_s
    of_core = 100.0 * result.cpu_s / elapsed if elapsed > 0 else None
    return {
        "duration_s": round(elapsed, 3),
        "requests": result.requests,
        "ok": ok,
        "errors": dict(sorted(result.errors.items())),
        "calls_per_s": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "latency_ms": latency_summary(result.latencies_ms),
        "created": result.created,
        "generator": {
            "tool": "python",
            "processes": processes,
            "connections": workload.concurrency,
            "cpu_s": round(result.cpu_s, 3),
            "cpu_pct_of_core": None if of_core is None else round(of_core, 1),
            "cpu_pct_of_machine": None if of_core is None else round(of_core / (os.cpu_count() or 1), 1),
        },
        **({"cpu_pct": cpu} if cpu is not None else {}),
    }


def wrk_measure(workload: Workload, threads: int, probe: Probe | None = None) -> dict[str, Any]:
    """Drive ``workload`` with wrk: a warm-up run, then the measured run continuing its customers
    (``probe``, a bound's processes' CPU, is read around the measured run)."""

    def run(seconds: float, start_new: list[int]) -> tuple[WrkRun, WrkResult]:
        params = identify_params(
            new_ratio=workload.new_ratio,
            known_per_caller=KNOWN_PER_CALLER,
            phone_offset=phone_offset(workload.seed),
            phone_stride=PHONE_STRIDE,
            phone_space=PHONE_SPACE,
            start_new=start_new,
        )
        spec = WrkRun(
            base_url=workload.url,
            path="/v1/customers/identify",
            api_key=workload.api_key,
            connections=workload.concurrency,
            threads=threads,
            duration_s=seconds,
            timeout_s=workload.timeout_s,
            seed=workload.seed,
            workload_lua=IDENTIFY_LUA,
            params=params,
        )
        return spec, run_wrk(spec)

    start_new: list[int] = []
    if workload.warmup_s > 0:
        _, warm = run(workload.warmup_s, [])
        start_new = carried(warm.threads, "new_sent")
    assert workload.duration_s is not None
    cpu_before, started = probe() if probe else {}, time.perf_counter()
    spec, result = run(workload.duration_s, start_new)
    figures = {**result.summary(), "created": result.created, "generator": result.generator(spec)}
    if probe:
        figures["cpu_pct"] = cpu_pct(cpu_before, probe(), time.perf_counter() - started)
    return figures


def measure(
    workload: Workload, options: argparse.Namespace, system: Probe, probe: Probe | None = None
) -> dict[str, Any]:
    """One target's figures with the generator chosen on the command line, once the system's
    processes (``system``) are quiet (``settle``)."""
    quiet = settle(system, at_most_s=options.settle)
    if options.generator == "wrk":
        return {**wrk_measure(workload, options.wrk_threads, probe), "settle": quiet}
    return {**python_measure(workload, options.processes, probe), "settle": quiet}


def measure_bounds(
    workload: Workload, options: argparse.Namespace, tenant_id: str, system: Probe
) -> dict[str, Any]:
    """Each no-database bound, started for its measurement and stopped after it."""
    bounds: dict[str, Any] = {}
    for name in BOUNDS:
        with bound_server(name, workload.api_key, tenant_id) as server:
            log(f"{name}: same workload against {server.url}")
            bounds[name] = measure(replace(workload, url=server.url), options, system, server.cpu_s)
    return bounds


def report(
    workload: Workload, options: argparse.Namespace, real: dict[str, Any], bounds: dict[str, Any]
) -> dict[str, Any]:
    """The JSON report of a run: the gateway's figures, then the bounds' and how ours compare."""
    generator = real["generator"]
    return {
        "benchmark": "identify",
        "url": workload.url,
        "concurrency": workload.concurrency,
        "processes": options.processes if options.generator == "python" else None,
        **{key: value for key, value in real.items() if key != "generator"},
        "new_ratio": workload.new_ratio,
        "warmup_s": workload.warmup_s,
        "seed": workload.seed,
        "load_generator_cpu_pct": generator["cpu_pct_of_core"],
        "generator": generator,
        "bounds": bounds or None,
        "ratio_to_bound": ratios(real["calls_per_s"], bounds, "calls_per_s") if bounds else None,
        "target": TARGET,
        "target_applied": target_applied(
            real,
            bounds.get("nodb_grpc"),
            rate_key="calls_per_s",
            rate=TARGET["calls_per_s"],
            p99_ms=TARGET["p99_ms"],
        ),
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
    parser.add_argument(
        "--processes", type=positive_int, default=1, help="python generator: its processes (1)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of phone numbers and choices (1)")
    parser.add_argument("--timeout", type=positive_float, default=10.0, help="per-call timeout, s (10)")
    parser.add_argument(
        "--generator",
        choices=("wrk", "python"),
        default=None,
        help="load generator (wrk when installed, else python; --requests needs python)",
    )
    add_bound_options(parser, "target")
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("PATRON_HOME", ".patron")),
        help="the system's PATRON_HOME, to see when it is quiet (default $PATRON_HOME or .patron)",
    )
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON report here")
    options = parser.parse_args(argv)
    if options.generator is None:
        options.generator = "wrk" if wrk_path() and options.requests is None else "python"
    if options.generator == "wrk" and options.requests is not None:
        parser.error("--requests needs --generator python (wrk runs for a duration)")
    if options.generator == "wrk" and wrk_path() is None:
        parser.error("wrk is not installed (apt-get install wrk); use --generator python")
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
        f"tenant {tenant_id}; concurrency {options.concurrency}, generator {options.generator}; "
        f"warm-up {options.warmup:g} s, then {amount}"
    )
    try:
        system = ProcessCpu(options.home).sample
        with stop_on_sigterm():
            real = measure(workload, options, system)
            log(f"gateway: {real['calls_per_s']} calls/s, p99 {real['latency_ms']['p99']} ms")
            bounds = measure_bounds(workload, options, tenant_id, system) if options.bounds else {}
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    emit_report(report(workload, options, real, bounds), options.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

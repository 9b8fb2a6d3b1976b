"""One phase of ``bench.ingest`` driven by ``wrk`` (bench/_wrk.py), reported as its Python phases are.

The bodies are bench.ingest's (bench/_wrk_scripts.py ``EVENTS_LUA``): ``batch_size`` new events a
call, each naming one of the customers uniformly. The warm-up is a wrk run of its own (wrk cannot leave
calls out of its statistics); the measured run continues its event sequence, so every id stays new.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench._bounds import Probe, cpu_pct
from bench._ingest_python import Phase, Timing
from bench._wrk import WrkResult, WrkRun, run_wrk
from bench._wrk_scripts import EVENTS_LUA, carried, events_params

PATH = "/v1/events"


def wrk_phase(
    url: str,
    api_key: str,
    customers: Sequence[str],
    phase: Phase,
    timing: Timing,
    *,
    event_types: Sequence[str],
    threads: int,
    probe: Probe | None = None,
) -> dict[str, Any]:
    """Warm up, then measure one phase; the phase's report (``probe`` read around the measured run)."""
    name, batch_size, concurrency = phase
    warmup_s, duration_s, timeout_s, seed = timing

    def run(seconds: float, start_seq: list[int]) -> tuple[WrkRun, WrkResult]:
        spec = WrkRun(
            base_url=url,
            path=PATH,
            api_key=api_key,
            connections=concurrency,
            threads=threads,
            duration_s=seconds,
            timeout_s=timeout_s,
            seed=seed,
            workload_lua=EVENTS_LUA,
            params=events_params(
                batch=batch_size,
                label=name,
                customers=customers,
                event_types=event_types,
                start_seq=start_seq,
            ),
        )
        return spec, run_wrk(spec)

    start_seq: list[int] = []
    if warmup_s > 0:
        _, warm = run(warmup_s, [])
        start_seq = carried(warm.threads, "seq")
    before = probe() if probe else {}
    spec, result = run(duration_s, start_seq)
    after = probe() if probe else {}
    summary = result.summary()
    errors = dict(summary["errors"])
    if result.not_accepted:
        errors["not_accepted"] = result.not_accepted
    generator = result.generator(spec)
    elapsed = result.duration_s
    report: dict[str, Any] = {
        "phase": name,
        "events_per_call": batch_size,
        "concurrency": spec.connections_used,
        "duration_s": summary["duration_s"],
        "calls": result.requests,
        "ok_calls": result.ok,
        "errors": dict(sorted(errors.items())),
        "calls_per_s": summary["calls_per_s"],
        "events_per_s": round(result.accepted / elapsed, 1) if elapsed > 0 else 0.0,
        "latency_ms": summary["latency_ms"],
        "generator": generator,
    }
    report["cpu_pct"] = {
        **cpu_pct(before, after, result.wall_s),
        "load_generator": generator["cpu_pct_of_core"],
    }
    return report

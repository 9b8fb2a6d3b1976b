"""The no-database bounds of an API benchmark: their processes, and a figure read against them.

A calls/s figure taken on a shared 2-core machine says little alone: the same run also measures
what the same framework and the same gateway → service hop achieve with no database, and reports the
figure as a share of those bounds (``ratio_to_bound``):

- **nodb_http**: one process, the gateway's routes served as the gateway serves them, validated by its
  request models, answered with a fixed answer (no database, no gRPC);
- **nodb_grpc**: the same app forwarding each call over grpc.aio to an echo server in a second process
  built like a service's (the runtime's interceptor, deadline and tenant metadata): the process
  layout of gateway → profile, without PostgreSQL.

Both are in :mod:`bench._bound_apps`; here they are started as child processes on free ports of
127.0.0.1, awaited until ``/readyz`` answers 200 (for nodb_grpc, once the echo is SERVING), and stopped
at the end of the ``with`` block, after an error, Ctrl-C or (inside :func:`stop_on_sigterm`) SIGTERM.
Their output goes to a log file whose tail is shown when one fails to start.

Also here: :func:`settle` (wait until the system under test is quiet before a measurement),
:func:`ratios` and :func:`target_applied` (the figure against the bounds and the target).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from bench._common import BenchError, log
from bench._cpu import process_cpu_s

BOUNDS = ("nodb_http", "nodb_grpc")
REPOSITORY = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
SHARE = 0.5  # the relative target: half of what the bound achieves
SETTLE_BELOW_PCT = 25.0  # the system counts as quiet below this share of one core, all its processes

# CPU seconds so far, by process: a bound's (BoundServer.cpu_s) or the system's (ProcessCpu.sample)
Probe = Callable[[], dict[str, float]]


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now (the OS's choice; the child binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class BoundServer:
    """A running bound: its URL and its processes by role (``http``, and ``echo`` for nodb_grpc)."""

    name: str
    url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds each of its processes has used so far."""
        readings = {role: process_cpu_s(p.pid) for role, p in self.processes.items()}
        return {role: cpu for role, cpu in readings.items() if cpu is not None}


def cpu_pct(before: Mapping[str, float], after: Mapping[str, float], wall_s: float) -> dict[str, float]:
    """CPU used between two readings, per process, in % of one core."""
    if wall_s <= 0:
        return {}
    return {role: round(100.0 * (after[role] - before.get(role, 0.0)) / wall_s, 1) for role in after}


def add_bound_options(parser: argparse.ArgumentParser, measured: str) -> None:
    """The options of every API bench measured against the bounds: wrk's threads, whether the bounds
    run too, and how long to wait for a quiet system before each ``measured`` (a target, a phase)."""
    parser.add_argument("--wrk-threads", type=int, choices=(1, 2), default=1, help="wrk's threads (1)")
    parser.add_argument(
        "--bounds",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the no-database bounds nodb_http and nodb_grpc in this run (on)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=30.0,
        help=f"before each {measured}, wait up to this many seconds for a quiet system (30; 0: never)",
    )


def settle(probe: Probe, *, at_most_s: float, below_pct: float = SETTLE_BELOW_PCT) -> dict[str, float]:
    """Wait until the system under test is quiet: its processes (``probe``) together use less than
    ``below_pct`` of one core over a second, or ``at_most_s`` have passed.

    Load on the system leaves work behind it (event consumers catching up, autovacuum); measured at
    once, the next target would share the cores with that work, and a bound measured right after the
    gateway would look slower than it is. Returns the seconds waited and the last second's CPU.
    """
    if at_most_s <= 0:
        return {"waited_s": 0.0}
    started = time.monotonic()
    while True:
        before, window_start = probe(), time.monotonic()
        time.sleep(1.0)
        busy = sum(cpu_pct(before, probe(), time.monotonic() - window_start).values())
        waited = time.monotonic() - started
        if busy < below_pct or waited >= at_most_s:
            return {"waited_s": round(waited, 1), "system_cpu_pct": round(busy, 1)}


def _spawn(args: list[str], env: Mapping[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    with log_file.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "bench._bound_apps", *args],
            cwd=REPOSITORY,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _tail(log_file: Path, characters: int = 1500) -> str:
    with contextlib.suppress(OSError):
        return log_file.read_text(errors="replace")[-characters:].strip()
    return ""


def _wait_ready(server: BoundServer, log_file: Path) -> None:
    """Until ``/readyz`` answers 200; BenchError when a process exits or the time is up."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(base_url=server.url, timeout=2.0) as client:
        while True:
            for role, process in server.processes.items():
                if process.poll() is not None:
                    raise BenchError(
                        f"{server.name}: the {role} process exited with {process.returncode}:\n"
                        f"{_tail(log_file)}"
                    )
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/readyz").status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise BenchError(f"{server.name} not ready after {READY_TIMEOUT_S:g} s:\n{_tail(log_file)}")
            time.sleep(0.1)


def _stop(processes: Mapping[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every process, then SIGKILL to any still running after the grace period."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes.values():
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def bound_server(name: str, api_key: str, tenant_id: str) -> Iterator[BoundServer]:
    """Start bound ``name`` (one of :data:`BOUNDS`), yield it once ready, stop it on leaving."""
    if name not in BOUNDS:
        raise ValueError(f"unknown bound {name!r}")
    env = {"PATRON_BOUND_API_KEY": api_key, "PATRON_BOUND_TENANT_ID": tenant_id}
    http_port = free_port()
    server = BoundServer(name, f"http://127.0.0.1:{http_port}")
    with tempfile.TemporaryDirectory(prefix=f"patron-{name}-") as directory:
        log_file = Path(directory) / "bound.log"
        try:
            http_args = ["http", "--port", str(http_port)]
            if name == "nodb_grpc":
                echo_port = free_port()
                server.processes["echo"] = _spawn(["echo", "--port", str(echo_port)], env, log_file)
                http_args += ["--grpc-target", f"127.0.0.1:{echo_port}"]
            server.processes["http"] = _spawn(http_args, env, log_file)
            _wait_ready(server, log_file)
            pids = ", ".join(f"{role} {p.pid}" for role, p in server.processes.items())
            log(f"{name} ready at {server.url} ({pids})")
            yield server
        finally:
            _stop(server.processes)


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while inside, so that ``finally`` blocks stop the children."""

    def leave(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def ratios(value: float | None, bounds: Mapping[str, Mapping[str, Any]], key: str) -> dict[str, float | None]:
    """``value`` as a share of each bound's figure ``key`` (3 decimals; None when either is missing)."""
    shares: dict[str, float | None] = {}
    for name, bound in bounds.items():
        figure = bound.get(key)
        if value is None or not isinstance(figure, int | float) or figure <= 0:
            shares[name] = None
        else:
            shares[name] = round(value / figure, 3)
    return shares


def target_applied(
    measured: Mapping[str, Any],
    bound: Mapping[str, Any] | None,
    *,
    rate_key: str,
    rate: float,
    p99_ms: float | None,
    bound_name: str = "nodb_grpc",
) -> dict[str, Any]:
    """The target this run is judged by: the absolute one (``rate`` of ``rate_key`` with p99 ≤
    ``p99_ms``), or 50 % of ``bound_name`` measured in the same run, whichever asks less.

    The relative target takes 50 % of both figures: half the bound's rate and twice its p99. At a
    fixed number of callers in a closed loop, half the rate is twice the latency (Little's law), so
    asking for the absolute p99 at half the rate would ask for the impossible. ``met`` says whether the
    measured figures reach the target that applies.
    """
    target: dict[str, Any] = {"basis": "absolute", rate_key: rate}
    if p99_ms is not None:
        target["p99_ms"] = p99_ms
    bound_rate = bound.get(rate_key) if bound else None
    if bound and isinstance(bound_rate, int | float) and SHARE * bound_rate < rate:
        target = {"basis": f"{round(100 * SHARE)}% of {bound_name}", rate_key: round(SHARE * bound_rate, 1)}
        bound_p99 = (bound.get("latency_ms") or {}).get("p99")
        if p99_ms is not None and bound_p99 is not None:
            target["p99_ms"] = round(max(p99_ms, bound_p99 / SHARE), 3)
        target["why"] = (
            f"{round(100 * SHARE)}% of {bound_name} ({bound_rate:g}) is below the absolute {rate:g}"
        )
    measured_rate = measured.get(rate_key) or 0.0
    measured_p99 = (measured.get("latency_ms") or {}).get("p99")
    met = measured_rate >= target[rate_key]
    if "p99_ms" in target:
        met = met and measured_p99 is not None and measured_p99 <= target["p99_ms"]
    target["met"] = met
    return target

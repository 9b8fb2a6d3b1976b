"""Drive an HTTP benchmark with ``wrk``, a compiled load generator, and report what it took itself.

A load generator written in Python spends about as much CPU per call as the gateway it measures, and
on a 2-core machine that CPU is taken from the system under test. ``wrk`` (C, LuaJIT for the request
bodies) costs a fraction of it, and what it does cost is read from the kernel: the run is reaped
with ``wait4``, whose resource usage is that one child's user + system CPU.

The workload lives in a Lua script generated into a temporary directory for each run (see
:mod:`bench._wrk_scripts` for the identify and events bodies). Every script shares the part here:

- ``request()`` builds each body with the workload's ``make_body()`` and sends it with
  ``Authorization: Bearer <key>`` and ``Content-Type: application/json``;
- ``response()`` counts 2xx answers (and lets the workload read their bodies: ``"created":true``,
  ``"accepted":N``) and every other answer by status;
- ``done()`` prints one JSON line, after the marker ``PATRON_WRK_JSON``, with the requests, the
  counters of every thread, wrk's socket errors, the duration and the latency percentiles (wrk's
  latency object, microseconds; converted to ms here).

wrk's latencies are of every answered call whatever its status (it records them before the script
sees the status); the Python generator's are of the 2xx calls only. With no errors they are the same.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._common import BenchError
from bench._cpu import system_cpu

MARKER = "PATRON_WRK_JSON"
WRK_PATHS = ("/usr/bin/wrk",)
POLL_S = 0.05
EXIT_MARGIN_S = 30.0  # beyond duration + timeout, a wrk that has not exited is stuck

_COMMON_LUA = r"""
-- Counters of this thread: globals, so that done() can read them with thread:get().
ok = 0
statuses = {}
created = 0
accepted = 0
not_accepted = 0
new_sent = 0
seq = 0
thread_id = 0

local threads = {}
local verify_pending = false
local HEADERS = {["Authorization"] = "Bearer " .. API_KEY, ["Content-Type"] = "application/json"}

function setup(thread)
  thread:set("thread_id", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(SEED * 1009 + thread_id)
  -- wrk calls request() once in its first thread, before the run, only to check that the request
  -- parses: that call must not advance the workload (a customer index, an event sequence).
  verify_pending = thread_id == 0
  start_thread()
end

function request()
  if verify_pending then
    verify_pending = false
    return wrk.format("POST", PATH, HEADERS, "{}")
  end
  return wrk.format("POST", PATH, HEADERS, make_body())
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    on_ok(body)
  else
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

local function encode(value)
  local kind = type(value)
  if kind == "number" then
    if value ~= value or value == math.huge or value == -math.huge then return "null" end
    if value == math.floor(value) and math.abs(value) < 2^53 then return string.format("%d", value) end
    return string.format("%.6f", value)
  elseif kind == "string" then
    return '"' .. value:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  elseif kind == "boolean" then
    return tostring(value)
  elseif kind == "table" then
    local parts = {}
    if value[1] ~= nil then
      for _, item in ipairs(value) do parts[#parts + 1] = encode(item) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    for key, item in pairs(value) do parts[#parts + 1] = encode(tostring(key)) .. ":" .. encode(item) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return "null"
end

function done(summary, latency, requests)
  local out = {
    requests = summary.requests,
    duration_us = summary.duration,
    socket_errors = summary.errors,
    latency_us = {
      p50 = latency:percentile(50), p90 = latency:percentile(90), p99 = latency:percentile(99),
      max = latency.max, mean = latency.mean,
    },
    ok = 0, created = 0, accepted = 0, not_accepted = 0, statuses = {}, threads = {},
  }
  for i, thread in ipairs(threads) do
    for _, name in ipairs({"ok", "created", "accepted", "not_accepted"}) do
      out[name] = out[name] + thread:get(name)
    end
    for status, count in pairs(thread:get("statuses")) do
      out.statuses[status] = (out.statuses[status] or 0) + count
    end
    out.threads[i] = {new_sent = thread:get("new_sent"), seq = thread:get("seq")}
  end
  io.write(MARKER .. " " .. encode(out) .. "\n")
end
"""


def wrk_path() -> str | None:
    """Where ``wrk`` is: Debian's ``/usr/bin/wrk``, else the first on ``PATH``; None without one."""
    for path in WRK_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("wrk")


def lua_literal(value: Any) -> str:
    """``value`` (None, bool, number, string, list or str-keyed dict) written as a Lua expression."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if not value.isascii() or not value.isprintable():
            raise ValueError(f"only printable ASCII goes into a wrk script: {value!r}")
        return json.dumps(value)  # then a JSON string is a valid Lua string literal
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"[{json.dumps(str(k))}] = {lua_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


def build_script(params: Mapping[str, Any], workload_lua: str) -> str:
    """The whole script: the parameters (as globals the chunk's functions read), the shared part,
    and the workload (``start_thread()``, ``make_body()``, ``on_ok(body)``)."""
    lines = ["-- generated by bench/_wrk.py for one run; see its docstring"]
    lines += [f"{name} = {lua_literal(value)}" for name, value in {"MARKER": MARKER, **params}.items()]
    return "\n".join(lines) + "\n" + _COMMON_LUA + "\n" + workload_lua


@dataclass(frozen=True)
class WrkRun:
    """One wrk invocation: ``connections`` keep-alive connections over ``threads`` threads, closed loop."""

    base_url: str
    path: str
    api_key: str
    connections: int
    threads: int
    duration_s: float
    timeout_s: float
    seed: int
    workload_lua: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def threads_used(self) -> int:
        return max(1, min(self.threads, self.connections))

    @property
    def connections_used(self) -> int:
        """wrk gives each thread ``connections // threads`` connections: this many are opened."""
        return (self.connections // self.threads_used) * self.threads_used


@dataclass(frozen=True)
class WrkResult:
    """What one run measured, as wrk and the script counted it."""

    requests: int
    ok: int
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    duration_s: float
    latency_us: dict[str, float]
    created: int
    accepted: int
    not_accepted: int
    threads: list[dict[str, int]]
    cpu_s: float  # wrk's own user + system CPU
    wall_s: float
    machine_busy_pct: float | None  # all cores, over the run

    @property
    def errors(self) -> dict[str, int]:
        """Non-2xx answers by status, and wrk's socket errors (``connect``, ``read``, ``write``,
        ``timeout``) by kind; the zero counts left out."""
        found = {status: count for status, count in self.statuses.items() if count}
        found.update({kind: n for kind, n in self.socket_errors.items() if kind != "status" and n})
        return dict(sorted(found.items()))

    def summary(self) -> dict[str, Any]:
        """The figures a benchmark reports for this run (the same keys as its Python generator's)."""
        elapsed = self.duration_s
        latency: dict[str, float | None] = {
            name: round(self.latency_us[name] / 1000.0, 3) if self.requests else None
            for name in ("p50", "p90", "p99", "max")
        }
        return {
            "duration_s": round(elapsed, 3),
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "calls_per_s": round(self.ok / elapsed, 1) if elapsed > 0 else 0.0,
            "latency_ms": latency,
        }

    def generator(self, run: WrkRun) -> dict[str, Any]:
        """What the generator itself took: its CPU in % of one core and of the whole machine."""
        cores = os.cpu_count() or 1
        of_core = 100.0 * self.cpu_s / self.wall_s if self.wall_s > 0 else None
        return {
            "tool": "wrk",
            "threads": run.threads_used,
            "connections": run.connections_used,
            "cpu_s": round(self.cpu_s, 3),
            "cpu_pct_of_core": None if of_core is None else round(of_core, 1),
            "cpu_pct_of_machine": None if of_core is None else round(of_core / cores, 1),
            "machine_busy_pct": self.machine_busy_pct,
        }


def _busy_pct(before: tuple[float, float] | None, after: tuple[float, float] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 1)


def _reap(process: subprocess.Popen[bytes], deadline: float) -> tuple[int, float]:
    """Wait for ``process`` with ``wait4`` (its own rusage), killing it after ``deadline``.

    Returns (exit code, CPU seconds). Polling rather than blocking keeps Ctrl-C responsive; the
    caller kills the process when anything is raised here.
    """
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
            return process.returncode, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            process.kill()
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            raise BenchError(f"wrk did not finish in time and was killed (CPU {usage.ru_utime:.1f} s)")
        time.sleep(POLL_S)


def run_wrk(run: WrkRun, wrk: str | None = None) -> WrkResult:
    """Run ``wrk`` once for ``run`` and return its figures; raises BenchError when it fails."""
    binary = wrk or wrk_path()
    if binary is None:
        raise BenchError("wrk is not installed (apt-get install wrk), use --generator python")
    duration = max(1, math.ceil(run.duration_s))  # wrk takes whole seconds
    params = {"API_KEY": run.api_key, "PATH": run.path, "SEED": run.seed, "THREADS": run.threads_used}
    params["CONNECTIONS_PER_THREAD"] = run.connections_used // run.threads_used
    script = build_script({**params, **run.params}, run.workload_lua)
    with tempfile.TemporaryDirectory(prefix="patron-wrk-") as directory:
        script_path = Path(directory) / "bench.lua"
        script_path.write_text(script)
        command = [
            binary,
            f"--threads={run.threads_used}",
            f"--connections={run.connections_used}",
            f"--duration={duration}s",
            f"--timeout={max(1, math.ceil(run.timeout_s))}s",
            "--latency",
            f"--script={script_path}",
            run.base_url.rstrip("/") + run.path,
        ]
        out_path, err_path = Path(directory) / "stdout", Path(directory) / "stderr"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            busy_before, started = system_cpu(), time.perf_counter()
            process = subprocess.Popen(command, stdout=out, stderr=err)
            try:
                code, cpu_s = _reap(process, time.monotonic() + duration + run.timeout_s + EXIT_MARGIN_S)
            finally:
                if process.returncode is None:
                    process.kill()
                    process.wait()
            wall, busy_after = time.perf_counter() - started, system_cpu()
        stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    line = next((x for x in stdout.splitlines() if x.startswith(MARKER + " ")), None)
    if code != 0 or line is None:
        raise BenchError(f"wrk exited with {code}: {(stderr or stdout).strip()[-600:]}")
    data = json.loads(line[len(MARKER) + 1 :])
    return WrkResult(
        requests=int(data["requests"]),
        ok=int(data["ok"]),
        statuses={str(k): int(v) for k, v in (data["statuses"] or {}).items()},
        socket_errors={str(k): int(v) for k, v in (data["socket_errors"] or {}).items()},
        duration_s=float(data["duration_us"]) / 1e6,
        latency_us={k: float(v) for k, v in data["latency_us"].items() if v is not None},
        created=int(data["created"]),
        accepted=int(data["accepted"]),
        not_accepted=int(data["not_accepted"]),
        threads=[{k: int(v) for k, v in t.items()} for t in data["threads"]],
        cpu_s=cpu_s,
        wall_s=wall,
        machine_busy_pct=_busy_pct(busy_before, busy_after),
    )

"""CPU use of processes and of the machine, from Linux ``/proc``, for the benchmarks."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

# --- CPU use --------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (Linux), None when unreadable."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid``, None when unreadable."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else None


def children_of(parent: int) -> list[int]:
    """The processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(entry.name)) and int(fields[1]) == parent:
            found.append(int(entry.name))
    return found


def system_cpu() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs since boot (Linux ``/proc/stat``), None when unreadable."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, IndexError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return float(sum(values) - idle), float(sum(values))


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU counters at one moment: the machine's, and per process of each named group."""

    at: float
    system: tuple[float, float] | None
    groups: dict[str, dict[int, float]] = field(default_factory=dict)


_BACKENDS = sa.text(
    "SELECT pg_backend_pid() AS mine, array_agg(pid) AS pids FROM pg_stat_activity "
    "WHERE datname = current_database()"
)


async def postgres_pids(observer: AsyncEngine) -> tuple[list[int], int | None]:
    """The scratch database's backends, and the server's postmaster (None when the server is not
    on this machine)."""
    async with observer.connect() as connection:
        row = (await connection.execute(_BACKENDS)).one()
    fields = _stat(int(row.mine))
    return [int(pid) for pid in row.pids or []], int(fields[1]) if fields else None


def read_cpu(groups: Mapping[str, Sequence[int]], postmaster: int | None) -> CpuSnapshot:
    """Read the counters (blocking: ``/proc``). ``postgres_server`` is the postmaster and all its
    children: every database's backends, the WAL writer, the checkpointer..."""
    server = [postmaster, *children_of(postmaster)] if postmaster is not None else []
    readings = {
        name: {pid: cpu for pid in pids if (cpu := process_cpu_s(pid)) is not None}
        for name, pids in {**groups, "postgres_server": server}.items()
    }
    return CpuSnapshot(time.monotonic(), system_cpu(), readings)


async def cpu_snapshot(observer: AsyncEngine, consumer_pid: int | None) -> CpuSnapshot:
    """CPU counters of the machine, this process, the consumer process and PostgreSQL."""
    backends, postmaster = await postgres_pids(observer)
    groups = {"bench_process": [os.getpid()], "postgres_backends": backends}
    if consumer_pid is not None:
        groups["consumer_process"] = [consumer_pid]
    return await asyncio.to_thread(read_cpu, groups, postmaster)


def cpu_usage(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float | None]:
    """CPU used between the snapshots: per group in % of one core; the machine, and what none of
    the groups used (other processes on the machine), in % of all cores."""
    elapsed = after.at - before.at
    if elapsed <= 0:
        return {}
    usage: dict[str, float | None] = {}
    ours = 0.0
    for name, readings in after.groups.items():
        start = before.groups.get(name, {})
        used = sum(cpu - start.get(pid, 0.0) for pid, cpu in readings.items())
        usage[f"{name}_pct_of_one_core"] = round(100.0 * used / elapsed, 1) if readings else None
        if name != "postgres_backends":  # a part of postgres_server
            ours += used
    if before.system and after.system and after.system[1] > before.system[1]:
        busy = (after.system[0] - before.system[0]) / (after.system[1] - before.system[1])
        cores = os.cpu_count() or 1
        usage["machine_busy_pct_of_all_cores"] = round(100.0 * busy, 1)
        usage["other_processes_pct_of_all_cores"] = round(max(100.0 * (busy - ours / elapsed / cores), 0), 1)
    return usage

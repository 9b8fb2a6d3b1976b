"""What ``bench.segments`` reports beside the preview timings: memory, relation sizes, plans, and
the statement limited to a few customers (live membership's form).

- ``rss``: this process's resident set now and at its peak (``/proc/self/status``); the peak can be
  reset (``/proc/self/clear_refs``) so the previews' own peak is told apart from the load's;
- ``relation_sizes``: heap and each index of the tables a segment statement reads, in MiB, with the
  server's ``shared_buffers`` (what PostgreSQL keeps in memory of them) and the preview's ``work_mem``;
- ``explain``: ``EXPLAIN (ANALYZE, BUFFERS)`` of the exact statement a preview runs, in its
  transaction and with its settings (``SqlSegmentStore.prepare``);
- ``time_scoped``: ``segment_members(…, customer_ids=…)`` for a few hundred customers, with whether
  its plan reads any table whole (it must not: live membership runs it per event batch).
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.database import Database
from services.scoring.domain.segments.tree import Condition
from services.scoring.store.segment_preview import PREVIEW_SETTINGS, SqlSegmentStore
from services.scoring.store.segment_sql import python_zones, segment_members

SEGMENT_TABLES = ("customers", "customer_scores", "audience_tags", "behaviour_events", "orders")
_STATUS = Path("/proc/self/status")
_ID_LIST = re.compile(r"'\{[0-9a-f,-]{200,}\}'")  # a scope's ids in a plan: elided


def rss_mib() -> dict[str, int | None]:
    """This process's resident set now (``VmRSS``) and its peak (``VmHWM``), MiB; None off Linux."""
    found: dict[str, int | None] = {"now_mib": None, "peak_mib": None}
    if _STATUS.exists():
        for line in _STATUS.read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found["now_mib" if key == "VmRSS" else "peak_mib"] = round(int(value.split()[0]) / 1024)
    return found


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current resident set (Linux ≥ 4.0), so a later peak is this phase's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def relation_sizes(connection: asyncpg.Connection) -> dict[str, Any]:
    """Heap and index sizes (MiB) of the segment tables, and the memory settings that bear on them."""
    rows = await connection.fetch(
        """
        SELECT t.relname AS table_name, i.relname AS index_name,
               pg_relation_size(t.oid) AS heap, pg_relation_size(i.oid) AS index_bytes
        FROM pg_class t
        LEFT JOIN pg_index x ON x.indrelid = t.oid
        LEFT JOIN pg_class i ON i.oid = x.indexrelid
        WHERE t.relname = ANY($1::text[]) AND t.relkind = 'r'
        ORDER BY t.relname, i.relname
        """,
        list(SEGMENT_TABLES),
    )
    tables: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = tables.setdefault(row["table_name"], {"heap_mib": _mib(row["heap"]), "indexes_mib": {}})
        if row["index_name"] is not None:
            entry["indexes_mib"][row["index_name"]] = _mib(row["index_bytes"])
    for entry in tables.values():
        entry["total_mib"] = round(entry["heap_mib"] + sum(entry["indexes_mib"].values()), 1)
    return {
        "tables": tables,
        "total_mib": round(sum(entry["total_mib"] for entry in tables.values()), 1),
        "shared_buffers": await connection.fetchval("SHOW shared_buffers"),
        "preview_settings": dict(PREVIEW_SETTINGS),
    }


def _mib(size: int | None) -> float:
    return round((size or 0) / 2**20, 1)


async def explain(
    database: Database, store: SqlSegmentStore, tenant_id: uuid.UUID, condition: Condition
) -> list[str]:
    """The plan, with actual times and buffers, of the statement a preview runs."""
    async with database.transaction() as connection:
        statement = await store.prepare(connection, tenant_id, condition, datetime.now(UTC), 10)
        return await _explain(connection, statement, analyze=True)


async def _explain(connection: AsyncConnection, statement: sa.Select[Any], analyze: bool) -> list[str]:
    compiled = statement.compile(dialect=connection.dialect)
    parameters = tuple(compiled.params[name] for name in compiled.positiontup or ())
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
    rows = (await connection.exec_driver_sql(prefix + str(compiled), parameters)).all()
    return [_ID_LIST.sub("'{…ids…}'", str(row[0])) for row in rows]


async def time_scoped(
    database: Database, tenant_id: uuid.UUID, condition: Condition, customers: int, runs: int, seed: int
) -> dict[str, Any]:
    """The statement limited to ``customers`` customers drawn by a hash of their ids (the same on
    every run), as live membership runs it."""
    async with database.read() as connection:
        scope = list(
            (
                await connection.execute(
                    sa.text(
                        "SELECT customer_id FROM customers WHERE tenant_id = :t "
                        "ORDER BY md5(customer_id::text || :seed) LIMIT :n"
                    ),
                    {"t": tenant_id, "seed": str(seed), "n": customers},
                )
            ).scalars()
        )
    zones = python_zones()
    samples: list[float] = []
    members = 0
    plan: list[str] = []
    for _ in range(runs):
        async with database.read() as connection:
            statement = segment_members(
                condition, tenant_id, datetime.now(UTC), "Asia/Shanghai", zones, scope
            )
            if not plan:
                plan = await _explain(connection, statement, analyze=False)
            began = time.perf_counter()
            members = len((await connection.execute(statement)).all())
            samples.append((time.perf_counter() - began) * 1000)
    return {
        "customers": len(scope),
        "members": members,
        "runs_ms": [round(sample, 1) for sample in samples],
        "median_ms": round(statistics.median(samples), 1),
        "reads_a_table_whole": any("Seq Scan" in line for line in plan),
        "plan": plan,
    }

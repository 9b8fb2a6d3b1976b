"""Live membership on the generated tenant: full evaluation of 20 saved segments, the consumer's
refresh of a batch's customers, and 100 k members leaving when their 24-hour window closes.

Runs in process on a database that ``bench.segments --keep`` generated (1 M customers, 5 M orders,
20 M behaviour events; ``--reuse NAME``), with the store functions the service runs:

- **full**: 20 saved segments of assorted shapes (attributes, scores, tags, windows, orders,
  birthdays, consent) are saved one after another — ``reevaluate_segment``, one transaction each:
  evaluate over the tenant, insert the members, rebuild the due index, append one
  ``segment.entered`` per member to the outbox; time per segment and in all;
- **refresh**: ``refresh_customers`` for batches of ``--batch`` (500) random customers, each with one
  behaviour event of the generator's mix (view 60 %, add_to_cart 25 %, favorite 10 %, share 5 %),
  against the 20 segments, as the consumer does after a batch of events (segments reading none of
  the changed facts are skipped): time per batch (median, p99);
- **time exits**: a fresh tenant of ``--exits`` (100,000) customers, each with one add-to-cart that
  leaves the 24-hour window at the same moment, ``--close-in`` (20) s after the segment is saved;
  the due worker's loop (``apply_due`` every ``--due-every`` 10 s, as ``segment_due_task``) runs
  until every member has exited: seconds from the window closing to the last exit committed (the
  target: all within 60 s).

Everything it adds is removed at the end (the segments, their members, due rows and outbox rows, the
exits tenant), so the database can be reused.

    flock /tmp/patron-bench.lock .venv/bin/python -m bench.segment_membership --reuse NAME \
        --output bench-results/segment_membership.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

from bench._common import emit_report, log, machine_info
from bench.segments import DEFAULT_SERVER
from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from services.scoring.domain.segments import reads
from services.scoring.domain.segments.dump import dump_condition
from services.scoring.domain.segments.parse import parse_condition
from services.scoring.store.audience_tables import behaviour_events
from services.scoring.store.feature_tables import outbox as outbox_table
from services.scoring.store.segment_live import apply_due
from services.scoring.store.segment_membership import LiveSegment, reevaluate_segment, refresh_customers
from services.scoring.store.segment_tables import segment_due, segment_members, segments
from services.scoring.store.tables import customers, tenants

TYPES, WEIGHTS = ("view", "add_to_cart", "favorite", "share"), (60, 25, 10, 5)
CART_24H = {"event": "add_to_cart", "within": "PT24H", "not_followed_by": "order"}
SEGMENTS: list[dict[str, Any]] = [
    {"field": "rfm.group", "op": "eq", "value": "core_value"},
    {"field": "rfm.group", "op": "in", "value": ["to_keep", "to_retain"]},
    {"field": "lifecycle.stage", "op": "eq", "value": "decline"},
    {
        "all": [
            {"field": "attributes.gender", "op": "eq", "value": "female"},
            {"field": "attributes.province", "op": "eq", "value": "Zhejiang"},
        ]
    },
    {"field": "attributes.birthday", "op": "in_next_days", "value": 7},
    {"field": "orders.count", "op": "gte", "value": 5},
    {"field": "orders.net_spend_minor", "op": "gt", "value": 50_000},
    {"field": "orders.last_at", "op": "older_than", "value": "P180D"},
    {"orders": {"within": "P30D", "min_count": 2}},
    CART_24H,
    {"event": "view", "within": "PT2H"},
    {"event": "favorite", "within": "P7D", "min_count": 2},
    {"field": "tags", "op": "has", "value": "00000000-0000-0000-0000-000000000000"},
    {
        "any": [
            {"field": "tags", "op": "has", "value": "00000000-0000-0000-0000-000000000001"},
            {"field": "tags", "op": "has", "value": "00000000-0000-0000-0000-000000000002"},
        ]
    },
    {"field": "engagement", "op": "gt", "value": 0.5},
    {"not": {"field": "lifecycle.stage", "op": "eq", "value": "churned"}},
    {"all": [{"field": "rfm.r", "op": "gte", "value": 4}, {"field": "rfm.m", "op": "gte", "value": 4}]},
    {"field": "attributes.city", "op": "in", "value": ["Hangzhou", "Shanghai", "Beijing"]},
    {"refund": {"within": "P30D"}},
    {"all": [CART_24H, {"field": "rfm.group", "op": "ne", "value": "lost"}]},
]


async def _tag_ids(database: Database, tenant_id: uuid.UUID) -> list[str]:
    """The generated tenant's three most common tags (the generator numbers its 50 tags)."""
    async with database.read() as connection:
        rows = await connection.execute(
            sa.text(
                "SELECT tag_id FROM audience_tags WHERE tenant_id = :t "
                "GROUP BY tag_id ORDER BY count(*) DESC LIMIT 3"
            ),
            {"t": tenant_id},
        )
        return [str(tag) for tag in rows.scalars()]


def _documents(tags: list[str]) -> list[dict[str, Any]]:
    """The 20 conditions with the placeholder tag ids replaced by the tenant's most common tags."""
    text = json.dumps(SEGMENTS)
    for number, tag in enumerate(tags):
        text = text.replace(f"00000000-0000-0000-0000-00000000000{number}", tag)
    documents: list[dict[str, Any]] = json.loads(text)
    return documents


async def _save(
    database: Database, outbox: Outbox, tenant_id: uuid.UUID, document: dict[str, Any], now: datetime
) -> tuple[LiveSegment, int, float]:
    condition = parse_condition(document)
    segment = LiveSegment(uuid.uuid4(), 1, condition)
    began = time.perf_counter()
    async with database.transaction() as connection:
        await connection.execute(
            sa.insert(segments).values(
                tenant_id=tenant_id,
                segment_id=segment.segment_id,
                name=f"bench-{segment.segment_id}",
                condition=dump_condition(condition),
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
        changes = await reevaluate_segment(connection, outbox, tenant_id, segment, now, "saved")
    return segment, len(changes.entered), time.perf_counter() - began


async def _full(
    database: Database, outbox: Outbox, tenant_id: uuid.UUID
) -> tuple[list[LiveSegment], dict[str, Any]]:
    now = datetime.now(UTC)
    saved, rows = [], []
    for number, document in enumerate(_documents(await _tag_ids(database, tenant_id))):
        segment, members, seconds = await _save(database, outbox, tenant_id, document, now)
        saved.append(segment)
        rows.append({"segment": number, "members": members, "seconds": round(seconds, 3)})
        log(f"segment {number}: {members} members in {seconds:.2f} s")
    total = sum(row["seconds"] for row in rows)
    return saved, {"segments": rows, "total_s": round(total, 2), "members": sum(r["members"] for r in rows)}


async def _refresh(
    database: Database, outbox: Outbox, tenant_id: uuid.UUID, batch: int, rounds: int
) -> dict[str, Any]:
    async with database.read() as connection:
        ids = list(
            (
                await connection.execute(
                    sa.text("SELECT customer_id FROM customers WHERE tenant_id = :t"), {"t": tenant_id}
                )
            ).scalars()
        )
    timings = []
    for _ in range(rounds):
        chosen = random.sample(ids, batch)
        # Each customer of the batch did one behaviour event (the generator's mix of types), which
        # changes that type's events and the customer's activity scores.
        changed: dict[str, set[uuid.UUID]] = {reads.SCORES: set(chosen)}
        for customer, kind in zip(chosen, random.choices(TYPES, WEIGHTS, k=batch), strict=True):
            changed.setdefault(reads.behaviour(kind), set()).add(customer)
        began = time.perf_counter()
        async with database.transaction() as connection:
            await refresh_customers(
                connection, outbox, tenant_id, chosen, datetime.now(UTC), "event", changed=changed
            )
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return {
        "batch": batch,
        "rounds": rounds,
        "median_ms": round(statistics.median(timings), 1),
        "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 1),
        "max_ms": round(timings[-1], 1),
    }


async def _time_exits(
    database: Database, outbox: Outbox, count: int, close_in: float, every: float
) -> dict[str, Any]:
    tenant_id = uuid.uuid4()
    now = datetime.now(UTC)
    carted = now - timedelta(hours=24) + timedelta(seconds=close_in)
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
                "VALUES (:t, :n, 'Asia/Shanghai', 'CNY', 'CN')"
            ),
            {"t": tenant_id, "n": f"exits-{tenant_id}"},
        )
        await connection.execute(
            sa.text(
                "INSERT INTO customers (tenant_id, customer_id, created_at) "
                "SELECT :t, gen_random_uuid(), :now FROM generate_series(1, :n)"
            ),
            {"t": tenant_id, "now": now, "n": count},
        )
        await connection.execute(
            sa.text(
                "INSERT INTO behaviour_events "
                "(tenant_id, event_id, customer_id, event_type, occurred_at, properties) "
                "SELECT tenant_id, 'exit-' || customer_id, customer_id, 'add_to_cart', :at, '{}' "
                "FROM customers WHERE tenant_id = :t"
            ),
            {"t": tenant_id, "at": carted},
        )
    async with database.engine.connect() as connection:  # as autovacuum would after such a load
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(sa.text("ANALYZE customers, behaviour_events"))
    _, members, save_s = await _save(database, outbox, tenant_id, CART_24H, datetime.now(UTC))
    closes = carted + timedelta(hours=24)
    log(f"time exits: {members} members saved in {save_s:.1f} s; the window closes at {closes.isoformat()}")
    rounds = []
    while True:
        began = time.perf_counter()
        done = await apply_due(database, outbox, datetime.now(UTC))
        if done:
            rounds.append({"rows": done, "seconds": round(time.perf_counter() - began, 2)})
        async with database.read() as connection:
            left = (
                await connection.execute(
                    sa.select(sa.func.count()).where(segment_members.c.tenant_id == tenant_id)
                )
            ).scalar_one()
        if left == 0:
            finished = datetime.now(UTC)
            break
        if not done:
            await asyncio.sleep(every)
    return {
        "members": members,
        "save_s": round(save_s, 2),
        "due_every_s": every,
        "rounds": rounds,
        "seconds_after_window_closed": round((finished - closes).total_seconds(), 1),
        "target_s": 60,
        "tenant_id": str(tenant_id),
    }


async def _clean(database: Database, tenant_id: uuid.UUID, exits_tenant: str | None) -> None:
    async with database.transaction() as connection:
        for table in (segment_members, segment_due, segments):
            await connection.execute(sa.delete(table).where(table.c.tenant_id == tenant_id))
        await connection.execute(sa.delete(outbox_table).where(outbox_table.c.type.like("segment.%")))
        if exits_tenant:
            gone = uuid.UUID(exits_tenant)
            for table in (segment_members, segment_due, segments, behaviour_events, customers, tenants):
                await connection.execute(sa.delete(table).where(table.c.tenant_id == gone))


async def main(options: argparse.Namespace) -> dict[str, Any]:
    url = options.database_url.rsplit("/", 1)[0] + "/" + options.reuse
    connection = await asyncpg.connect(url)
    tenant_id = await connection.fetchval("SELECT tenant_id FROM tenants WHERE name = 'bench'")
    await connection.close()
    database = Database(create_engine(url, application_name="bench-segment-membership"))
    outbox = Outbox("scoring", outbox_table, partitions=8)
    exits: dict[str, Any] = {}
    try:
        _, full = await _full(database, outbox, tenant_id)
        refresh = await _refresh(database, outbox, tenant_id, options.batch, options.rounds)
        log(f"refresh of {options.batch} customers x 20 segments: median {refresh['median_ms']} ms")
        exits = await _time_exits(database, outbox, options.exits, options.close_in, options.due_every)
        log(
            f"time exits: all {exits['members']} out {exits['seconds_after_window_closed']} s after the close"
        )
    finally:
        await _clean(database, tenant_id, exits.get("tenant_id"))
        await database.dispose()
    return {
        "bench": "segment_membership",
        "machine": machine_info(),
        "database": options.reuse,
        "full_evaluation": full,
        "refresh": refresh,
        "time_exits": exits,
        "bench_process_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument(
        "--reuse", metavar="NAME", required=True, help="a database kept by bench.segments --keep"
    )
    parser.add_argument("--batch", type=int, default=500, help="customers per refresh (500)")
    parser.add_argument("--rounds", type=int, default=50, help="refresh batches timed (50)")
    parser.add_argument("--exits", type=int, default=100_000, help="members whose window closes (100,000)")
    parser.add_argument("--close-in", type=float, default=20.0, help="seconds until the window closes (20)")
    parser.add_argument("--due-every", type=float, default=10.0, help="the due worker's period, s (10)")
    parser.add_argument("--output", type=Path)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    emit_report(asyncio.run(main(arguments)), arguments.output)

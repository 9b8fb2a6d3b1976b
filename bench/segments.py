"""Segment previews on a generated tenant: how long ``SqlSegmentStore.preview`` takes on 1 M customers.

Creates a fresh database on the PostgreSQL server named by ``--database-url`` (default the machine's
``postgresql://postgres@127.0.0.1:5432/postgres``), migrates scoring and loads, straight into its
tables (no services, no backbone):

- customers and orders from ``bench.tenant_generator`` (binary COPY, as ``bench.scoring`` does);
- attributes (gender, province/city, birthday) drawn from a hash of the customer id;
- ``customer_scores``: an RFM group and a lifecycle stage per customer (as a scoring run leaves them);
- ``audience_tags``: 0-3 of 50 tags per customer (Zipf-like: tag 0 is the most common), a fifth of
  them with an expiry (half already passed);
- ``behaviour_events``: ``--events`` events over the last 90 days (view 60 %, add_to_cart 25 %,
  favourite 10 %, share 5 %), uniform over customers and time, COPYed with the table's secondary
  indexes dropped and rebuilt after; then an order 10 minutes after a third of the last 26 hours'
  add-to-carts, so that ``not_followed_by`` has something to exclude.

Then it times ``SqlSegmentStore.preview`` (count + 10 sample ids, one statement) ``--runs`` times
each for (a) three attribute/score conditions, (b) the 24-hour abandoned cart, (c) an ``any`` of
five tags, and reports every run, the median and the max against the 500 ms target, with the
answers' counts, the load average, the database's size and this process's peak memory. The
database is dropped at the end unless ``--keep`` (then ``--reuse NAME`` times again without loading).

    flock /tmp/patron-bench.lock .venv/bin/python -m bench.segments --output bench-results/segments.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from bench import _segments_report as report
from bench._common import emit_report, log, machine_info
from bench.tenant_generator import (
    binary_copy_chunks,
    copy_bench_tenant,
    describe,
    generate,
    order_ids,
    text_column,
    timestamptz_column,
    uuid_column,
)
from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.scoring.domain.lifecycle import STAGES
from services.scoring.domain.rfm import GROUPS
from services.scoring.domain.segments.parse import parse_condition
from services.scoring.store.segment_preview import SqlSegmentStore

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_MS = 500
TAGS = 50
EVENT_SHARES = {"view": 0.60, "add_to_cart": 0.25, "favourite": 0.10, "share": 0.05}
HISTORY_DAYS = 90
CITIES = [  # (province, city), the first ones more common
    ("Zhejiang", "Hangzhou"),
    ("Shanghai", "Shanghai"),
    ("Guangdong", "Shenzhen"),
    ("Zhejiang", "Ningbo"),
    ("Beijing", "Beijing"),
    ("Guangdong", "Guangzhou"),
    ("Sichuan", "Chengdu"),
    ("Hubei", "Wuhan"),
]


def tag_ids() -> list[uuid.UUID]:
    """The bench's 50 tag ids, the same on every run."""
    return [uuid.UUID(int=0xB0_0000 + index) for index in range(TAGS)]


def conditions() -> dict[str, dict[str, Any]]:
    """The fixed workload: the three previews the issue names."""
    tags = tag_ids()
    return {
        "a_attributes_and_scores": {
            "all": [
                {"field": "attributes.gender", "op": "eq", "value": "female"},
                {"field": "attributes.province", "op": "in", "value": ["Zhejiang", "Shanghai"]},
                {"field": "rfm.group", "op": "eq", "value": "to_keep"},
            ]
        },
        "b_abandoned_cart_24h": {"event": "add_to_cart", "within": "PT24H", "not_followed_by": "order"},
        "c_any_of_five_tags": {
            "any": [{"field": "tags", "op": "has", "value": str(tag)} for tag in tags[10:15]]
        },
    }


async def _chunks(chunks: Any) -> Any:
    for chunk in chunks:
        yield chunk


def _sql_list(values: list[str]) -> str:
    """A SQL text array literal of the bench's own constant words (no client input here)."""
    return "ARRAY[" + ", ".join(f"'{value}'" for value in values) + "]"


async def _attributes_scores_tags(connection: asyncpg.Connection, tenant_id: uuid.UUID) -> dict[str, int]:
    """Attributes, scores and tags for every customer, drawn from hashes of the ids (deterministic)."""
    provinces = _sql_list([province for province, _ in CITIES])
    cities = _sql_list([city for _, city in CITIES])
    # a Zipf-like city: the square of a uniform number favours the first entries
    await connection.execute(
        f"""
        UPDATE customers SET
          gender = (ARRAY['female', 'male', 'unknown'])[1 + abs(hashtext(customer_id::text || 'g')) % 3],
          province = ({provinces})[pick], city = ({cities})[pick],
          birthday = DATE '1970-01-01' + abs(hashtext(customer_id::text || 'b')) % 14000
        FROM (SELECT customer_id AS id,
                     1 + floor(power((abs(hashtext(customer_id::text || 'c')) % 1000) / 1000.0, 2)
                               * {len(CITIES)})::int AS pick
              FROM customers) AS drawn
        WHERE customers.customer_id = drawn.id
        """  # noqa: S608 - the bench's own constants
    )
    groups = _sql_list([group.code for group in GROUPS])
    stages = _sql_list(list(STAGES))
    await connection.execute(
        f"""
        INSERT INTO customer_scores (tenant_id, customer_id, as_of, order_count, net_spend_minor,
            last_activity, activity_counts, rfm_group, stage, stage_reason, engagement)
        SELECT tenant_id, customer_id, current_date, 1, 0, '{{}}', '{{}}',
               ({groups})[1 + abs(hashtext(customer_id::text || 'r')) % {len(GROUPS)}],
               ({stages})[1 + abs(hashtext(customer_id::text || 's')) % {len(STAGES)}],
               'bench', (abs(hashtext(customer_id::text || 'e')) % 100) / 100.0
        FROM customers
        """  # noqa: S608 - the bench's own constants
    )
    await connection.execute(
        f"""
        INSERT INTO audience_tags (tenant_id, customer_id, tag_id, expires_at)
        SELECT $1, customer_id,
               ('00000000-0000-0000-0000-' || lpad(to_hex({0xB0_0000} + tag), 12, '0'))::uuid,
               CASE abs(hashtext(customer_id::text || k::text || 'x')) % 10
                 WHEN 0 THEN now() - interval '3 days' WHEN 1 THEN now() + interval '30 days' END
        FROM customers, generate_series(1, 3) AS k,
             LATERAL (SELECT floor(power((abs(hashtext(customer_id::text || k::text)) % 1000) / 1000.0, 2)
                                   * {TAGS})::int AS tag) AS drawn
        WHERE abs(hashtext(customer_id::text || k::text || 'h')) % 100 < 45
        ON CONFLICT DO NOTHING
        """,  # noqa: S608 - the bench's own constants
        tenant_id,
    )
    tags = await connection.fetchval("SELECT count(*) FROM audience_tags")
    return {"audience_tags": int(tags)}


async def _events(
    connection: asyncpg.Connection, tenant_id: uuid.UUID, ids: Any, customers: int, events: int
) -> dict[str, Any]:
    """COPY ``events`` behaviour events (secondary indexes rebuilt after), then the recent orders."""
    rng = np.random.default_rng(23)
    now = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us")
    indexes = await connection.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'behaviour_events' "
        "AND indexname <> 'behaviour_events_pkey'"
    )
    for index in indexes:
        await connection.execute(f'DROP INDEX "{index["indexname"]}"')
    tenant_column = uuid_column(np.frombuffer(tenant_id.bytes, dtype=np.uint8))
    began = time.perf_counter()
    first = 0
    for kind, share in EVENT_SHARES.items():
        count = int(events * share)
        ages = rng.integers(0, HISTORY_DAYS * 86_400_000_000, size=count).astype("timedelta64[us]")
        columns = [
            tenant_column,
            text_column(order_ids(first + count, prefix="e")[first:]),
            uuid_column(ids[rng.integers(0, customers, size=count)]),
            text_column(kind.encode()),
            timestamptz_column(now - ages),
        ]
        await connection.copy_to_table(
            "behaviour_events",
            source=_chunks(binary_copy_chunks(columns, count)),
            columns=["tenant_id", "event_id", "customer_id", "event_type", "occurred_at"],
            format="binary",
        )
        first += count
    copied = time.perf_counter() - began
    began = time.perf_counter()
    for index in indexes:
        await connection.execute(index["indexdef"])
    indexed = time.perf_counter() - began
    followed = await connection.execute(
        """
        INSERT INTO orders (tenant_id, order_id, customer_id, paid_at, currency, amount_minor)
        SELECT tenant_id, 'after-' || event_id, customer_id, occurred_at + interval '10 minutes', 'CNY', 9900
        FROM behaviour_events
        WHERE tenant_id = $1 AND event_type = 'add_to_cart' AND occurred_at > now() - interval '26 hours'
          AND abs(hashtext(event_id)) % 3 = 0
        """,
        tenant_id,
    )
    return {
        "behaviour_events": first,
        "events_copy_seconds": round(copied, 1),
        "events_index_seconds": round(indexed, 1),
        "orders_after_recent_carts": int(followed.split()[-1]),
    }


async def _load(url: str, options: argparse.Namespace) -> tuple[uuid.UUID, dict[str, Any]]:
    began = time.perf_counter()
    tenant = generate(customers=options.customers, orders=options.orders)
    generated = time.perf_counter() - began
    connection = await asyncpg.connect(url)
    try:
        began = time.perf_counter()
        tenant_id, ids = await copy_bench_tenant(connection, tenant)
        copied = time.perf_counter() - began
        log(f"customers and orders copied in {copied:.1f} s")
        began = time.perf_counter()
        shape = await _attributes_scores_tags(connection, tenant_id)
        derived = time.perf_counter() - began
        log(f"attributes, scores and tags in {derived:.1f} s")
        shape |= await _events(connection, tenant_id, ids, tenant.customers, options.events)
        log(f"events: {shape}")
        began = time.perf_counter()
        await connection.execute("VACUUM ANALYZE")
        vacuumed = time.perf_counter() - began
    finally:
        await connection.close()
    timings = {
        "generate_seconds": round(generated, 1),
        "copy_customers_orders_seconds": round(copied, 1),
        "attributes_scores_tags_seconds": round(derived, 1),
        "vacuum_analyze_seconds": round(vacuumed, 1),
    }
    return tenant_id, {**timings, "tenant": {**describe(tenant), **shape}}


async def _time_previews(url: str, tenant_id: uuid.UUID, options: argparse.Namespace) -> dict[str, Any]:
    database = Database(create_engine(url, application_name="bench-segments"))
    store = SqlSegmentStore(database)
    results: dict[str, Any] = {}
    try:
        for name, document in conditions().items():
            condition = parse_condition(document)
            samples: list[float] = []
            count = 0
            for _ in range(options.runs):
                began = time.perf_counter()
                count, _sample = await store.preview(tenant_id, condition, datetime.now(UTC), 10)
                samples.append((time.perf_counter() - began) * 1000)
            results[name] = {
                "condition": document,
                "count": count,
                "runs_ms": [round(sample, 1) for sample in samples],
                "median_ms": round(statistics.median(samples), 1),
                "max_ms": round(max(samples), 1),
                "within_target": max(samples) <= TARGET_MS,
            }
            figures = results[name]
            log(f"{name}: count {count}, median {figures['median_ms']} ms, max {figures['max_ms']} ms")
            if options.scoped:
                scoped = await report.time_scoped(
                    database, tenant_id, condition, options.scoped, options.runs, 5
                )
                figures["scoped"] = scoped if options.explain else {**scoped, "plan": None}
                log(f"{name} for {options.scoped} customers: median {scoped['median_ms']} ms")
            if options.explain:
                figures["plan"] = await report.explain(database, store, tenant_id, condition)
    finally:
        await database.dispose()
    return results


async def main(options: argparse.Namespace) -> dict[str, Any]:
    server = await asyncpg.connect(options.database_url)
    name = options.reuse or f"patron_bench_segments_{uuid.uuid4().hex[:8]}"
    url = options.database_url.rsplit("/", 1)[0] + "/" + name
    keep = options.keep or options.reuse is not None
    try:
        if options.reuse:
            # a kept database follows the code: its migrations (e.g. new indexes) run first, timed
            began = time.perf_counter()
            await asyncio.to_thread(migrations.upgrade, "scoring", url)
            load: dict[str, Any] = {"reused": True, "migrate_seconds": round(time.perf_counter() - began, 1)}
            connection = await asyncpg.connect(url)
            tenant_id = await connection.fetchval("SELECT tenant_id FROM tenants WHERE name = 'bench'")
            await connection.close()
        else:
            await server.execute(f'CREATE DATABASE "{name}"')
            await asyncio.to_thread(migrations.upgrade, "scoring", url)
            tenant_id, load = await _load(url, options)
        rss_after_load = report.rss_mib()
        peak_reset = report.reset_peak_rss()
        before = [round(value, 2) for value in os.getloadavg()]
        previews = await _time_previews(url, tenant_id, options)
        after = [round(value, 2) for value in os.getloadavg()]
        size = await server.fetchval("SELECT pg_database_size($1)", name)
        connection = await asyncpg.connect(url)
        try:
            relations = await report.relation_sizes(connection)
        finally:
            await connection.close()
    finally:
        if keep:
            log(f"database kept: {name} (run again with --reuse {name})")
        else:
            await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()
    return {
        "bench": "segments",
        "machine": machine_info(),
        "database": name if keep else None,
        "load": load,
        "previews": previews,
        "target_ms": TARGET_MS,
        "load_average_before_after": [before, after],
        "database_mib": round(size / 2**20),
        "relation_sizes": relations,
        "bench_process_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "bench_process_rss_after_load_mib": rss_after_load,
        "bench_process_peak_rss_during_previews_mib": report.rss_mib()["peak_mib"] if peak_reset else None,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the generated database")
    parser.add_argument("--reuse", metavar="NAME", help="time again on a database kept by --keep")
    parser.add_argument(
        "--scoped", type=int, default=500, help="also time each condition for this many customers (0: not)"
    )
    parser.add_argument("--explain", action="store_true", help="add each statement's plan to the report")
    parser.add_argument("--output", type=Path)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    emit_report(asyncio.run(main(arguments)), arguments.output)

"""Scoring's full batch run over a generated tenant: features + RFM + lifecycle, then predictions.

Creates a fresh database on the PostgreSQL server named by ``--database-url`` (default the machine's
``postgresql://postgres@127.0.0.1:5432/postgres``), migrates scoring, loads a tenant from
``bench.tenant_generator`` with binary COPY (customers, orders, order items and order extras), and
times the run's phases as the scoring service runs them (``BatchSession`` then ``fit_and_score``).
Three runs, each allowed the daily statement as a live run of the scoring service is: the first
is a full recomputation (no features key yet) and finds every customer without a stage (one
``lifecycle.stage_changed`` per customer), the second repeats it for the same day (a daily run:
nothing changed, nothing is rewritten), the third is the next day's daily run (every buyer's
recency moves, so nearly every row is rewritten). Then the analyst's pandas script
(``bench._analyst_script``) computes the same RFM and lifecycle for the next day on the same data,
and the report gives the next-day run's time as a ratio of the script's and how far their answers
agree. The database is dropped at the end unless ``--keep`` (then ``--reuse NAME`` runs again on it,
migrated to the head: the derived tables are emptied first, the facts stay). Prints one JSON report
with the load average before and after each run.

    flock /tmp/patron-bench.lock .venv/bin/python -m bench.scoring --output bench-results/scoring.json

Order items: every order has one line in its generated category and brand (quantity 1-3, unit
price = amount / quantity) and 35 % have a second line (another Zipf draw, quantity 1, a fifth to
three fifths of the amount); 15 % of orders used a coupon; channel ``app`` or ``web``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from bench import _analyst_script as analyst_script
from bench._common import emit_report, log, machine_info
from bench.tenant_generator import (
    BRANDS,
    CATEGORIES,
    CopyColumn,
    GeneratedTenant,
    binary_copy_chunks,
    copy_bench_tenant,
    describe,
    generate,
    int16_column,
    int32_column,
    int64_column,
    order_ids,
    text_column,
    uuid_column,
)
from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from services.scoring.store.batch import BatchSession
from services.scoring.store.config import load_config
from services.scoring.store.feature_tables import outbox as outbox_table
from services.scoring.store.predictions import fit_and_score

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SECOND_LINE_SHARE = 0.35
COUPON_SHARE = 0.15
# What a reused database loses before the first run, so that it starts like a fresh one.
_DERIVED = (
    "customer_scores, tenant_baselines, computed_tags, outbox, outbox_pending, outbox_positions, outbox_heads"
)


async def _chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _names(prefix: str, codes: npt.NDArray[np.int16], digits: int) -> npt.NDArray[np.bytes_]:
    table = np.array([f"{prefix}{code:0{digits}d}".encode() for code in range(10**digits)])
    return table[codes]


async def _copy_items(connection: Any, tenant: GeneratedTenant, tenant_id: uuid.UUID) -> int:
    """COPY order_items and order_extras (see the module docstring); returns the item lines."""
    rng = np.random.default_rng(11)
    orders = tenant.orders
    ids = order_ids(orders)
    quantity = rng.integers(1, 4, size=orders)
    second = np.flatnonzero(rng.random(orders) < SECOND_LINE_SHARE)
    weights = 1.0 / np.arange(1, CATEGORIES + 1) ** 1.1
    other_category = rng.choice(CATEGORIES, size=second.size, p=weights / weights.sum()).astype(np.int16)
    weights = 1.0 / np.arange(1, BRANDS + 1) ** 1.2
    other_brand = rng.choice(BRANDS, size=second.size, p=weights / weights.sum()).astype(np.int16)
    share = rng.uniform(0.2, 0.6, second.size)
    second_price = np.maximum(1, tenant.amount_minor[second] * share).astype(np.int64)
    columns = {
        "order_id": np.concatenate([ids, ids[second]]),
        "line": np.concatenate([np.zeros(orders, np.int16), np.ones(second.size, np.int16)]),
        "category": np.concatenate([tenant.category, other_category]),
        "brand": np.concatenate([tenant.brand, other_brand]),
        "price": np.concatenate([np.maximum(1, tenant.amount_minor // quantity), second_price]),
        "quantity": np.concatenate([quantity, np.ones(second.size, np.int64)]),
    }
    rows = orders + second.size
    tenant_column = uuid_column(np.frombuffer(tenant_id.bytes, dtype=np.uint8))
    await connection.copy_to_table(
        "order_items",
        source=_chunks(
            binary_copy_chunks(
                [
                    tenant_column,
                    text_column(columns["order_id"]),
                    int16_column(columns["line"]),
                    text_column(_names("cat-", columns["category"], 2)),
                    text_column(_names("brand-", columns["brand"], 3)),
                    int64_column(columns["price"]),
                    int32_column(columns["quantity"]),
                ],
                rows,
            )
        ),
        columns=["tenant_id", "order_id", "line", "category", "brand", "unit_price_minor", "quantity"],
        format="binary",
    )
    coupon = CopyColumn((rng.random(orders) < COUPON_SHARE).astype(np.uint8))  # boolean: one byte
    channel = np.where(rng.random(orders) < 0.6, b"app", b"web")
    await connection.copy_to_table(
        "order_extras",
        source=_chunks(
            binary_copy_chunks([tenant_column, text_column(ids), coupon, text_column(channel)], orders)
        ),
        columns=["tenant_id", "order_id", "coupon_used", "channel"],
        format="binary",
    )
    return rows


async def _load(url: str, customers: int, orders: int) -> tuple[uuid.UUID, dict[str, Any]]:
    began = time.perf_counter()
    tenant = generate(customers=customers, orders=orders)
    generated = time.perf_counter() - began
    connection = await asyncpg.connect(url)
    try:
        began = time.perf_counter()
        tenant_id, _ids = await copy_bench_tenant(connection, tenant)
        items = await _copy_items(connection, tenant, tenant_id)
        await connection.execute("VACUUM ANALYZE customers, orders, order_items, order_extras")
        copied = time.perf_counter() - began
    finally:
        await connection.close()
    log(f"generated in {generated:.1f} s, copied in {copied:.1f} s")
    shape = {**describe(tenant), "order_items": items}
    return tenant_id, {"generate_seconds": generated, "copy_seconds": copied, "tenant": shape}


async def _reuse(url: str) -> tuple[uuid.UUID, dict[str, Any]]:
    """The bench tenant of a kept database, its derived tables emptied (the facts stay)."""
    connection = await asyncpg.connect(url)
    try:
        tenant_id = await connection.fetchval("SELECT tenant_id FROM tenants WHERE name = 'bench'")
        await connection.execute(f"TRUNCATE {_DERIVED}")
        period = await connection.fetchrow(
            "SELECT min(paid_at AT TIME ZONE 'Asia/Shanghai')::date AS first, "
            "max(paid_at AT TIME ZONE 'Asia/Shanghai')::date AS last FROM orders"
        )
        counts = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM orders) AS orders, "
            "(SELECT count(*) FROM order_items) AS order_items"
        )
    finally:
        await connection.close()
    shape = {**dict(counts), "period": [period["first"].isoformat(), period["last"].isoformat()]}
    return tenant_id, {"reused": True, "tenant": shape}


async def _analyst(url: str, tenant_id: uuid.UUID, as_of: date) -> dict[str, Any]:
    """The analyst's pandas script on the same tenant and day (``bench._analyst_script``), and how
    far its answers agree with the scores the last run published."""
    connection = await asyncpg.connect(url)
    try:
        zone = await connection.fetchval("SELECT timezone FROM tenants WHERE tenant_id = $1", tenant_id)
        report: dict[str, Any] = {"load_average_before": _load_average()}
        report |= await analyst_script.run(connection, tenant_id, zone, as_of)
        report["load_average_after"] = _load_average()
        report["agreement"] = await analyst_script.agreement(connection, tenant_id)
        await connection.execute(f"DROP TABLE {analyst_script.TABLE}")
    finally:
        await connection.close()
    log(f"analyst's script: {report}")
    return report


def _load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


async def _run(database: Database, tenant_id: uuid.UUID, as_of: Any, predictions: bool) -> dict[str, Any]:
    outbox = Outbox("scoring", outbox_table, 16)
    phases: dict[str, Any] = {"load_average_before": _load_average()}
    async with BatchSession.open(database, tenant_id, as_of) as batch:
        began = time.perf_counter()
        phases["customers"] = await batch.snapshot_features(daily=True)
        phases["features_seconds"] = time.perf_counter() - began
        phases["features_mode"] = batch.features_mode
        began = time.perf_counter()
        await batch.baselines()
        await batch.score()
        phases["rfm_seconds"] = time.perf_counter() - began
        began = time.perf_counter()
        phases["stage_changes"] = await batch.write(outbox)
        phases["lifecycle_write_seconds"] = time.perf_counter() - began
        phases["details"] = dict(batch.timings)
    phases["features_rfm_lifecycle_seconds"] = (
        phases["features_seconds"] + phases["rfm_seconds"] + phases["lifecycle_write_seconds"]
    )
    if predictions:
        began = time.perf_counter()
        async with database.transaction() as connection:
            config = await load_config(connection, tenant_id)
            outcome = await fit_and_score(connection, tenant_id, as_of, config)
        phases["predictions_seconds"] = time.perf_counter() - began
        phases["predictions"] = {"status": outcome.status, "customers": outcome.customers}
    phases["load_average_after"] = _load_average()
    log(f"run: {phases}")
    return phases


async def main(arguments: argparse.Namespace) -> dict[str, Any]:
    server = await asyncpg.connect(arguments.database_url)
    name = arguments.reuse or f"patron_bench_scoring_{uuid.uuid4().hex[:8]}"
    url = arguments.database_url.rsplit("/", 1)[0] + "/" + name
    keep = arguments.keep or arguments.reuse is not None
    try:
        if arguments.reuse:
            await asyncio.to_thread(migrations.upgrade, "scoring", url)
            tenant_id, load = await _reuse(url)
        else:
            await server.execute(f'CREATE DATABASE "{name}"')
            await asyncio.to_thread(migrations.upgrade, "scoring", url)
            tenant_id, load = await _load(url, arguments.customers, arguments.orders)
        as_of = date.fromisoformat(load["tenant"]["period"][1])
        database = Database(create_engine(url, application_name="bench-scoring"))
        try:
            first = await _run(database, tenant_id, as_of, predictions=not arguments.skip_predictions)
            second = await _run(database, tenant_id, as_of, predictions=False)
            third = await _run(database, tenant_id, as_of + timedelta(days=1), predictions=False)
        finally:
            await database.dispose()
        analyst = await _analyst(url, tenant_id, as_of + timedelta(days=1))
    finally:
        if keep:
            log(f"database kept: {name} (run again with --reuse {name})")
        else:
            await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()
    return {
        "bench": "scoring",
        "machine": machine_info(),
        "database": name if keep else None,
        "load": load,
        "first_run": first,
        "steady_run": second,
        "next_day_run": third,
        "analyst_script": analyst,
        "next_day_run_to_analyst_script": round(
            third["features_rfm_lifecycle_seconds"] / analyst["seconds"]["total"], 3
        ),
        "targets": {
            "features_rfm_lifecycle_seconds": 20,
            "predictions_seconds": 30,
            "next_day_run_to_analyst_script": "< 1",
        },
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--skip-predictions", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the generated database")
    parser.add_argument("--reuse", metavar="NAME", help="run on a database kept by --keep (no load)")
    parser.add_argument("--output", type=Path)
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parse()
    emit_report(asyncio.run(main(options)), options.output)

"""Scoring's full batch run over a generated tenant: features + RFM + lifecycle, then predictions.

Creates a fresh database on the PostgreSQL server named by ``--database-url`` (default the machine's
``postgresql://postgres@127.0.0.1:5432/postgres``), migrates scoring, loads a tenant from
``bench.tenant_generator`` with binary COPY (customers and orders), and times the run's phases as
the scoring service runs them (``BatchSession`` then ``fit_and_score``). Two runs: the first finds
every customer without a stage (one ``lifecycle.stage_changed`` per customer), the second is the
steady state of a daily run. The database is dropped at the end. Prints one JSON report.

    flock /tmp/patron-bench.lock .venv/bin/python -m bench.scoring --output bench-results/scoring.json
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from bench._common import emit_report, log, machine_info
from bench.tenant_generator import copy_customers, copy_orders, customer_uuids, describe, generate
from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from services.scoring.store.batch import BatchSession
from services.scoring.store.config import load_config
from services.scoring.store.feature_tables import outbox as outbox_table
from services.scoring.store.predictions import fit_and_score

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _load(url: str, customers: int, orders: int) -> tuple[uuid.UUID, Any]:
    began = time.perf_counter()
    tenant = generate(customers=customers, orders=orders)
    generated = time.perf_counter() - began
    tenant_id = uuid.uuid4()
    ids = customer_uuids(tenant.customers)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
            "VALUES ($1, 'bench', 'Asia/Shanghai', $2, 'CN')",
            tenant_id,
            tenant.currency,
        )
        began = time.perf_counter()
        await copy_customers(connection, tenant, tenant_id, ids)
        await copy_orders(connection, tenant, tenant_id, ids)
        await connection.execute("ANALYZE customers; ANALYZE orders")
        copied = time.perf_counter() - began
    finally:
        await connection.close()
    log(f"generated in {generated:.1f} s, copied in {copied:.1f} s")
    return tenant_id, {"generate_seconds": generated, "copy_seconds": copied, "tenant": describe(tenant)}


async def _run(database: Database, tenant_id: uuid.UUID, as_of: Any, predictions: bool) -> dict[str, Any]:
    outbox = Outbox("scoring", outbox_table, 16)
    phases: dict[str, Any] = {}
    async with BatchSession.open(database, tenant_id, as_of) as batch:
        began = time.perf_counter()
        phases["customers"] = await batch.snapshot_features()
        phases["features_seconds"] = time.perf_counter() - began
        began = time.perf_counter()
        await batch.baselines()
        await batch.score()
        phases["rfm_seconds"] = time.perf_counter() - began
        began = time.perf_counter()
        phases["stage_changes"] = await batch.write(outbox)
        phases["lifecycle_write_seconds"] = time.perf_counter() - began
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
    log(f"run: {phases}")
    return phases


async def main(arguments: argparse.Namespace) -> dict[str, Any]:
    server = await asyncpg.connect(arguments.database_url)
    name = f"patron_bench_scoring_{uuid.uuid4().hex[:8]}"
    await server.execute(f'CREATE DATABASE "{name}"')
    url = arguments.database_url.rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(migrations.upgrade, "scoring", url)
        tenant_id, load = await _load(url, arguments.customers, arguments.orders)
        end = load["tenant"]["period"][1]
        as_of = date.fromisoformat(end)
        database = Database(create_engine(url, application_name="bench-scoring"))
        try:
            first = await _run(database, tenant_id, as_of, predictions=not arguments.skip_predictions)
            second = await _run(database, tenant_id, as_of, predictions=False)
        finally:
            await database.dispose()
    finally:
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()
    return {
        "bench": "scoring",
        "machine": machine_info(),
        "load": load,
        "first_run": first,
        "steady_run": second,
        "targets": {"features_rfm_lifecycle_seconds": 20, "predictions_seconds": 30},
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--skip-predictions", action="store_true")
    parser.add_argument("--output", type=Path)
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parse()
    emit_report(asyncio.run(main(options)), options.output)

"""The KPI overview at 1 M customers / 5 M orders: how long ``GET /v1/kpis`` takes to gather.

Creates fresh scoring, loyalty and notify databases on the PostgreSQL server named by
``--database-url`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``), fills them
(``bench/_kpi_world.py``: the generated tenant's customers and orders, 3 browsing days per order,
a point account per customer and an earn entry per order, 1 M coupons, a campaign of 200,000
recipients) — the scoring database is migrated to the KPI migration only after its facts are in, so
the backfill is timed as an upgrade runs it — then serves each service's ``KpiService`` from this
process (real gRPC servers on the three databases) and times the gateway's own gathering
(``gateway.routers.kpis.gather_kpis``: the six calls at once, this period and the previous one,
with the daily series) over the last 7, 30, 90 and 366 days of the data, ``--runs`` times each after
one warm-up, and the retention cohorts (weeks over 90 days, months over 366 days). HTTP and the
key check the gateway adds are not in the figure (about a millisecond). The databases are dropped
at the end unless ``--keep`` (then ``--reuse PREFIX`` times again without loading).

    flock /tmp/patron-bench.lock .venv/bin/python -m bench.kpis --output bench-results/kpis.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench._common import emit_report, log, machine_info
from bench._kpi_world import SERVICES, build
from gateway.auth import TenantContext
from gateway.clients import ServiceClients
from gateway.routers.kpis import gather_kpis
from gateway.settings import GatewaySettings
from patron.scoring.v1 import kpis_pb2 as scoring_kpis
from patron.scoring.v1 import kpis_pb2_grpc as scoring_grpc
from services.loyalty.domain.kpis import LoyaltyKpis
from services.loyalty.store.kpis import SqlLoyaltyKpiStore
from services.loyalty.transport.kpis_servicer import kpis_registration as loyalty_registration
from services.notify.domain.kpis import CampaignKpis
from services.notify.store.kpis import SqlCampaignKpiStore
from services.notify.transport.kpis_servicer import kpis_registration as notify_registration
from services.runtime.database import Database, create_engine
from services.runtime.periods import Period
from services.runtime.server import Registration, ServiceServer
from services.scoring.domain.kpis import KpiDesk
from services.scoring.store.kpi_reads import SqlKpiStore
from services.scoring.transport.kpis_servicer import kpis_registration as scoring_registration

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
OVERVIEW_DAYS = (7, 30, 90, 366)
TARGET_MS = 1000


def _registration(service: str, database: Database) -> Registration:
    if service == "scoring":
        return scoring_registration(KpiDesk(SqlKpiStore(database)))
    if service == "loyalty":
        return loyalty_registration(LoyaltyKpis(SqlLoyaltyKpiStore(database)))
    return notify_registration(CampaignKpis(SqlCampaignKpiStore(database)))


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p90": round(ordered[max(0, round(0.9 * len(ordered)) - 1)], 1),
        "max": round(ordered[-1], 1),
    }


async def _measure(clients: ServiceClients, tenant: TenantContext, last: date, runs: int) -> dict[str, Any]:
    """The overview of each period ending on ``last``: a warm-up, then ``runs`` timed gatherings."""
    figures: dict[str, Any] = {}
    for days in OVERVIEW_DAYS:
        period = Period(last - timedelta(days=days - 1), last)
        answer = await gather_kpis(clients, tenant, period)
        samples = []
        for _ in range(runs):
            began = time.perf_counter()
            answer = await gather_kpis(clients, tenant, period)
            samples.append((time.perf_counter() - began) * 1000)
        figures[f"last_{days}_days"] = {
            "ms": _summary(samples),
            "samples_ms": [round(s, 1) for s in samples],
            "unavailable": [u.model_dump() for u in answer.unavailable],
            "answer": answer.model_dump(
                include={
                    "customers",
                    "active_customers",
                    "dau",
                    "wau",
                    "mau",
                    "orders",
                    "revenue_minor",
                    "aov_minor",
                    "arpu_minor",
                    "repurchase_rate",
                    "ltv_minor",
                    "coupon_redemption_rate",
                    "points_liability",
                    "campaign_conversions",
                    "campaign_roi",
                }
            ),
        }
        log(f"overview of {days} days: {figures[f'last_{days}_days']['ms']}")
    return figures


async def _retention(clients: ServiceClients, tenant_id: str, last: date, runs: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    stub = clients.stub(scoring_grpc.KpiServiceStub)
    for kind, days in (("week", 90), ("month", 366)):
        request = scoring_kpis.RetentionRequest(
            cohort=kind, from_date=(last - timedelta(days=days - 1)).isoformat(), to_date=last.isoformat()
        )
        samples = []
        for attempt in range(runs + 1):
            began = time.perf_counter()
            answer = await clients.call(
                "scoring", stub.GetRetention, request, tenant_id=tenant_id, deadline_seconds=60
            )
            if attempt:
                samples.append((time.perf_counter() - began) * 1000)
        figures[f"{kind}_over_{days}_days"] = {"ms": _summary(samples), "cohorts": len(answer.cohorts)}
        log(f"retention by {kind} over {days} days: {figures[f'{kind}_over_{days}_days']}")
    return figures


async def _serve_and_measure(
    urls: dict[str, str], tenant_id: uuid.UUID, last: date, runs: int
) -> dict[str, Any]:
    databases = {s: Database(create_engine(urls[s], application_name=f"bench-kpis-{s}")) for s in SERVICES}
    servers = {
        s: ServiceServer(
            name=s, database=databases[s], registrations=[_registration(s, databases[s])], host="127.0.0.1"
        )
        for s in SERVICES
    }
    for server in servers.values():
        await server.start()
    settings = GatewaySettings.model_validate(
        {
            "admin_token": "bench-kpis-" + "x" * 32,
            **{f"{s}_address": f"127.0.0.1:{servers[s].bound_port}" for s in SERVICES},
        }
    )
    clients = ServiceClients(settings)
    tenant = TenantContext(str(tenant_id), "Asia/Shanghai", "CNY", frozenset({"operate"}))
    try:
        load_before = [round(v, 2) for v in os.getloadavg()]
        overview = await _measure(clients, tenant, last, runs)
        retention = await _retention(clients, str(tenant_id), last, max(1, runs // 2))
        load_after = [round(v, 2) for v in os.getloadavg()]
    finally:
        await clients.close()
        for server in servers.values():
            await server.stop(grace=1)
        for database in databases.values():
            await database.dispose()
    return {"overview": overview, "retention": retention, "load_average": [load_before, load_after]}


async def main(arguments: argparse.Namespace) -> dict[str, Any]:
    prefix = arguments.reuse or f"patron_bench_kpis_{uuid.uuid4().hex[:8]}"
    names = {s: f"{prefix}_{s}" for s in SERVICES}
    urls = {s: arguments.database_url.rsplit("/", 1)[0] + "/" + names[s] for s in SERVICES}
    keep = arguments.keep or arguments.reuse is not None
    try:
        if arguments.reuse:
            connection = await asyncpg.connect(urls["scoring"])
            try:
                tenant_id = await connection.fetchval("SELECT tenant_id FROM tenants WHERE name = 'bench'")
                last = await connection.fetchval("SELECT max(day) FROM kpi_daily WHERE active_customers > 0")
            finally:
                await connection.close()
            load: dict[str, Any] = {"reused": prefix}
        else:
            tenant_id, load = await build(
                arguments.database_url,
                names,
                arguments.customers,
                arguments.orders,
                arguments.visits_per_order,
                arguments.coupons,
                arguments.campaign_recipients,
            )
            last = date.fromisoformat(load["tenant"]["period"][1])
        measured = await _serve_and_measure(urls, tenant_id, last, arguments.runs)
    finally:
        if keep:
            log(f"databases kept: {prefix}_* (run again with --reuse {prefix})")
        else:
            server = await asyncpg.connect(arguments.database_url)
            try:
                for name in names.values():
                    await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await server.close()
    return {
        "bench": "kpis",
        "machine": machine_info(),
        "databases": prefix if keep else None,
        "load": load,
        "last_day": last.isoformat(),
        **measured,
        "target": {"overview_ms": TARGET_MS},
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--visits-per-order", type=int, default=3, help="browsing days drawn per order")
    parser.add_argument("--coupons", type=int, default=1_000_000)
    parser.add_argument("--campaign-recipients", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7, help="timed gatherings per period (after a warm-up)")
    parser.add_argument("--keep", action="store_true", help="keep the generated databases")
    parser.add_argument("--reuse", metavar="PREFIX", help="time again on databases kept by --keep")
    parser.add_argument("--output", type=Path)
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parse()
    emit_report(asyncio.run(main(options)), options.output)

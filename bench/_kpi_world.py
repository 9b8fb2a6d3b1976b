"""The world of ``bench.kpis``: one tenant's facts in fresh scoring, loyalty and notify databases.

- **scoring**: customers and orders from ``bench.tenant_generator`` (binary COPY, as ``bench.scoring``),
  and behaviour: ``visits_per_order`` browsing days per order, each 0-30 days before it (customers
  browse before they buy), one ``activity_daily`` row per distinct customer-day. The database is
  migrated to ``scoring_0009`` first and to the head after the load, so the KPI migration's backfill
  (``kpi_backfill``, then its indexes) is timed exactly as an upgrade of a live database runs it.
- **loyalty**: a point account per customer, one earn entry per order, ``coupons`` coupons issued
  over the period (30 % redeemed, 500 off each), written by ``INSERT … SELECT`` in the database.
- **notify**: one campaign whose audience was taken ten days before the period's end, with
  ``recipients`` recipients (A, B and a 10 % holdout), a delivered message per variant recipient,
  paid orders for 5 % of the recipients two days after, and a coupon discount on a third of them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np

from bench._common import log
from bench.tenant_generator import (
    GeneratedTenant,
    binary_copy_chunks,
    copy_bench_tenant,
    describe,
    generate,
    int32_column,
    text_column,
    timestamptz_column,
    uuid_column,
)
from services.runtime import migrations

SERVICES = ("scoring", "loyalty", "notify")
TENANT_ZONE_HOURS = 8  # Asia/Shanghai, the generator's default
_PG_DAY0 = np.datetime64("2000-01-01", "D")


async def _chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def visit_days(tenant: GeneratedTenant, visits_per_order: int, seed: int = 13) -> tuple[Any, Any]:
    """Distinct (customer index, local day) pairs of browsing: each order brings ``visits_per_order``
    days 0-30 days before it, never before the period's start."""
    rng = np.random.default_rng(seed)
    local = tenant.paid_at + np.timedelta64(TENANT_ZONE_HOURS * 3600, "s")
    order_day = (local.astype("datetime64[D]") - _PG_DAY0).astype(np.int64)
    owner = np.repeat(tenant.customer, visits_per_order)
    day = np.repeat(order_day, visits_per_order) - rng.integers(0, 31, size=owner.size)
    day = np.maximum(day, (np.datetime64(tenant.start.isoformat(), "D") - _PG_DAY0).astype(np.int64))
    keys = np.unique(owner * 100_000 + day)
    return keys // 100_000, keys % 100_000


async def load_scoring(
    url: str, tenant: GeneratedTenant, visits_per_order: int
) -> tuple[uuid.UUID, dict[str, Any]]:
    """Facts into a scoring database at ``scoring_0009``, then the upgrade to the head, timed."""
    connection = await asyncpg.connect(url)
    try:
        began = time.perf_counter()
        tenant_id, ids = await copy_bench_tenant(connection, tenant)
        customers, days = visit_days(tenant, visits_per_order)
        noon = _PG_DAY0 + days.astype("timedelta64[D]") + np.timedelta64(4 * 3600, "s")
        columns = [
            uuid_column(np.frombuffer(tenant_id.bytes, dtype=np.uint8)),
            uuid_column(ids[customers]),
            text_column(b"view"),
            int32_column(days),
            int32_column(np.ones(1, dtype=np.int32)),
            timestamptz_column(noon.astype("datetime64[s]")),
        ]
        await connection.copy_to_table(
            "activity_daily",
            source=_chunks(binary_copy_chunks(columns, int(customers.size))),
            columns=["tenant_id", "customer_id", "event_type", "day", "events", "last_at"],
            format="binary",
        )
        await connection.execute("VACUUM ANALYZE customers, orders, activity_daily")
        copied = time.perf_counter() - began
    finally:
        await connection.close()
    log(f"scoring facts copied in {copied:.1f} s ({customers.size} behaviour days); migrating to the head")
    began = time.perf_counter()
    await asyncio.to_thread(migrations.upgrade, "scoring", url)
    backfill = time.perf_counter() - began
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("VACUUM ANALYZE kpi_customer_days, kpi_daily, kpi_first_orders, customers")
        sizes = {
            row["name"]: {"rows": int(row["rows"]), "mb": round(row["bytes"] / 2**20)}
            for row in await connection.fetch(
                "SELECT relname AS name, reltuples AS rows, pg_total_relation_size(oid) AS bytes "
                "FROM pg_class WHERE relname IN "
                "('kpi_customer_days', 'kpi_daily', 'kpi_first_orders', 'activity_daily', 'orders')"
            )
        }
    finally:
        await connection.close()
    log(f"KPI migration (backfill and indexes) took {backfill:.1f} s")
    return tenant_id, {
        "copy_seconds": round(copied, 1),
        "behaviour_days": int(customers.size),
        "kpi_migration_seconds": round(backfill, 1),
        "tables": sizes,
    }


_TENANT = (
    "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
    "VALUES ($1, 'bench', 'Asia/Shanghai', 'CNY', 'CN')"
)


async def load_loyalty(
    url: str, tenant_id: uuid.UUID, tenant: GeneratedTenant, coupons: int
) -> dict[str, Any]:
    """Accounts, an earn entry per order and the coupons, written by the database itself."""
    start = datetime.fromisoformat(f"{tenant.start.isoformat()}T00:00:00+08:00")
    end = datetime.fromisoformat(f"{(tenant.end + timedelta(days=1)).isoformat()}T00:00:00+08:00")
    template = uuid.uuid4()
    connection = await asyncpg.connect(url)
    try:
        began = time.perf_counter()
        await connection.execute(_TENANT, tenant_id)
        await connection.execute(
            "INSERT INTO point_accounts (tenant_id, customer_id, balance) "
            "SELECT $1, gen_random_uuid(), (random() * 2000)::bigint FROM generate_series(1, $2)",
            tenant_id,
            tenant.customers,
        )
        await connection.execute(
            "INSERT INTO point_entries (tenant_id, entry_id, customer_id, type, delta, balance_after, reason,"
            " source, idempotency_key, program_version, occurred_at, created_at)"
            " SELECT $1, gen_random_uuid(), gen_random_uuid(), 'earn', 1 + (random() * 300)::bigint, 0,"
            " 'order',"
            " 'order', 'earn:' || g, 0, at, at"
            " FROM (SELECT g, $3::timestamptz + random() * ($4::timestamptz - $3::timestamptz) AS at"
            "       FROM generate_series(1, $2) AS g) AS s",
            tenant_id,
            tenant.orders,
            start,
            end,
        )
        await connection.execute(
            "INSERT INTO coupon_templates (tenant_id, template_id, name, kind, discount_minor, valid_days,"
            " per_customer_limit) VALUES ($1, $2, 'bench', 'no_threshold', 500, 30, 100)",
            tenant_id,
            template,
        )
        await connection.execute(
            "INSERT INTO coupons (tenant_id, code, template_id, customer_id, source, status, valid_from,"
            " valid_until, issued_at, redeemed_at, order_id, order_amount_minor, discount_minor)"
            " SELECT $1, 'B' || g, $2, gen_random_uuid(), 'bench',"
            " CASE WHEN r THEN 'redeemed' ELSE 'issued' END,"
            " at, at + interval '30 days', at, CASE WHEN r THEN at + interval '2 days' END,"
            " CASE WHEN r THEN 'O' || g END, CASE WHEN r THEN 10000 END, CASE WHEN r THEN 500 END"
            " FROM (SELECT g, random() < 0.3 AS r,"
            "       $4::timestamptz + random() * ($5::timestamptz - $4::timestamptz) AS at"
            "       FROM generate_series(1, $3) AS g) AS s",
            tenant_id,
            template,
            coupons,
            start,
            end,
        )
        await connection.execute("VACUUM ANALYZE point_accounts, point_entries, coupons")
        took = time.perf_counter() - began
    finally:
        await connection.close()
    log(f"loyalty loaded in {took:.1f} s")
    return {
        "seconds": round(took, 1),
        "accounts": tenant.customers,
        "entries": tenant.orders,
        "coupons": coupons,
    }


async def load_notify(url: str, tenant_id: uuid.UUID, end: date, recipients: int) -> dict[str, Any]:
    """One campaign ten days before ``end`` with its recipients, messages, orders and discounts."""
    campaign = uuid.uuid4()
    taken = datetime.fromisoformat(f"{(end - timedelta(days=10)).isoformat()}T10:00:00+08:00")
    connection = await asyncpg.connect(url)
    try:
        began = time.perf_counter()
        await connection.execute(_TENANT, tenant_id)
        await connection.execute(
            "INSERT INTO campaigns (tenant_id, campaign_id, name, segment_id, document, status, groups,"
            " templates, ends, conversion_window, send_zone, created_at, updated_at, started_at, snapshot_at,"
            " recipients) VALUES ($1, $2, 'bench', gen_random_uuid(), '{}', 'completed', ARRAY['A', 'B'],"
            " ARRAY[gen_random_uuid(), gen_random_uuid()], ARRAY[1000, 5500, 10000], interval '7 days',"
            " 'tenant', $3, $3, $3, $3, $4)",
            tenant_id,
            campaign,
            taken,
            recipients,
        )
        await connection.execute(
            "INSERT INTO campaign_recipients"
            " (tenant_id, campaign_id, position, customer_id, group_name, due_at,"
            " message_id) SELECT $1, $2, g, gen_random_uuid(),"
            " CASE WHEN g % 10 = 0 THEN 'holdout' WHEN g % 2 = 0 THEN 'A' ELSE 'B' END, $3,"
            " CASE WHEN g % 10 <> 0 THEN gen_random_uuid() END FROM generate_series(1, $4) AS g",
            tenant_id,
            campaign,
            taken,
            recipients,
        )
        await connection.execute(
            "INSERT INTO messages (message_id, tenant_id, customer_id, template_id, channel, purpose, sender,"
            " sender_ref, status, sent_at, delivered_at) SELECT message_id, tenant_id, customer_id,"
            " gen_random_uuid(), 'email', 'marketing', 'campaign', campaign_id::text, 'delivered',"
            " due_at + interval '1 minute', due_at + interval '2 minutes'"
            " FROM campaign_recipients WHERE tenant_id = $1 AND message_id IS NOT NULL",
            tenant_id,
        )
        await connection.execute(
            "INSERT INTO campaign_orders"
            " (tenant_id, campaign_id, order_id, customer_id, amount_minor, currency,"
            " paid_at) SELECT tenant_id, campaign_id, 'CO' || position, customer_id, 5000 + position % 20000,"
            " 'CNY', due_at + interval '2 days' FROM campaign_recipients"
            " WHERE tenant_id = $1 AND position % 20 = 3",
            tenant_id,
        )
        await connection.execute(
            "INSERT INTO campaign_order_discounts"
            " (tenant_id, order_id, coupon_code, discount_minor, redeemed_at)"
            " SELECT tenant_id, order_id, 'K' || order_id, 500, paid_at FROM campaign_orders"
            " WHERE tenant_id = $1 AND length(order_id) % 3 = 0",
            tenant_id,
        )
        await connection.execute("VACUUM ANALYZE campaigns, campaign_recipients, messages, campaign_orders")
        took = time.perf_counter() - began
    finally:
        await connection.close()
    log(f"notify loaded in {took:.1f} s")
    return {"seconds": round(took, 1), "campaign_recipients": recipients}


async def build(
    server_url: str,
    names: dict[str, str],
    customers: int,
    orders: int,
    visits: int,
    coupons: int,
    recipients: int,
) -> tuple[uuid.UUID, dict[str, Any]]:
    """Create, migrate and fill the three databases ``names`` (service → database name)."""
    server = await asyncpg.connect(server_url)
    try:
        for name in names.values():
            await server.execute(f'CREATE DATABASE "{name}"')
    finally:
        await server.close()
    urls = {service: server_url.rsplit("/", 1)[0] + "/" + name for service, name in names.items()}
    await asyncio.to_thread(migrations.upgrade, "scoring", urls["scoring"], "scoring_0009")
    await asyncio.to_thread(migrations.upgrade, "loyalty", urls["loyalty"])
    await asyncio.to_thread(migrations.upgrade, "notify", urls["notify"])
    began = time.perf_counter()
    tenant = generate(customers=customers, orders=orders)
    log(f"generated {customers} customers and {orders} orders in {time.perf_counter() - began:.1f} s")
    tenant_id, scoring = await load_scoring(urls["scoring"], tenant, visits)
    loyalty = await load_loyalty(urls["loyalty"], tenant_id, tenant, coupons)
    notify = await load_notify(urls["notify"], tenant_id, tenant.end, recipients)
    return tenant_id, {"tenant": describe(tenant), "scoring": scoring, "loyalty": loyalty, "notify": notify}

"""The world of ``bench.campaigns``: one tenant's facts for a million customers in notify's database.

Built once into a database of its own (``patron_bench_campaigns_world_<customers>_s<seed>``) and kept:
every run clones it (``CREATE DATABASE … TEMPLATE``), so each run starts from the same rows and a
run's 900,000 messages never count against the next run's caps. The facts, drawn independently per
customer from ``--seed``:

- consent to e-mail marketing granted for 80 %, withdrawn (``granted = false``) for 3 %, no row else;
- unsubscribed from e-mail (``suppressions``, scope '') 2 %; erased (``customer_states``) 1 %;
- 5 % received 1 to 3 marketing messages in the 6 days before the anchor (the cap is 2 per P7D);
- zones: Asia/Shanghai 40 %, Asia/Urumqi 10 %, America/Los_Angeles 15 %, Europe/Berlin 15 %, none
  20 % (the tenant's, Asia/Shanghai).

The earlier messages are stored relative to the world's anchor; a clone moves them onto the run's
anchor, so a world reused days later still has them inside the cap's window.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bench._common import log
from services.runtime import migrations
from services.runtime.settings import asyncpg_url

POLICY = {"frequency_caps": [{"max": 2, "per": "P7D"}], "quiet_hours": {"start": "22:00", "end": "08:00"}}
TENANT_ZONE = "Asia/Shanghai"
ZONES: Sequence[tuple[str | None, float]] = (
    ("Asia/Shanghai", 0.40),
    ("Asia/Urumqi", 0.10),
    ("America/Los_Angeles", 0.15),
    ("Europe/Berlin", 0.15),
    (None, 0.20),
)
SHARES = {"consent": 0.80, "withdrawn": 0.03, "unsubscribed": 0.02, "erased": 0.01, "earlier": 0.05}
CHUNK = 50_000


@dataclass(frozen=True)
class World:
    """What a run needs to know of the world: the tenant, the two variants' templates, the audience."""

    tenant_id: uuid.UUID
    templates: tuple[uuid.UUID, uuid.UUID]
    customers: list[uuid.UUID]
    zones: list[str | None]
    anchor: datetime


def dsn(server_url: str, database: str) -> str:
    """A plain asyncpg DSN for ``database`` on the server of ``server_url``."""
    base = asyncpg_url(server_url).replace("postgresql+asyncpg://", "postgresql://")
    head, _, _ = base.rpartition("/")
    return f"{head}/{database}"


async def admin(server_url: str, statement: str) -> None:
    """Run one statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    connection = await asyncpg.connect(dsn(server_url, "postgres"), timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def exists(server_url: str, database: str) -> bool:
    connection = await asyncpg.connect(dsn(server_url, "postgres"), timeout=10)
    try:
        return bool(await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database))
    finally:
        await connection.close()


def draw(customers: int, seed: int) -> tuple[list[uuid.UUID], list[str | None], random.Random]:
    """The customers' ids and zones (the same for the same seed), and the generator, for the facts."""
    rng = random.Random(seed)
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(customers)]
    names = [name for name, _ in ZONES]
    zones = rng.choices(names, weights=[share for _, share in ZONES], k=customers)
    return ids, zones, rng


def _chunks(rows: list[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


async def _copy(
    connection: asyncpg.Connection, table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    for chunk in _chunks(rows):
        await connection.copy_records_to_table(table, records=chunk, columns=columns)
    log(f"world: {len(rows):,} rows into {table}")


async def _seed(url: str, customers: int, seed: int, anchor: datetime) -> None:
    ids, _, rng = draw(customers, seed)
    tenant, first, second = (uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(3))
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
                "VALUES ($1, 'bench campaigns', $2, 'CNY', 'CN')",
                tenant,
                TENANT_ZONE,
            )
            await connection.execute(
                "INSERT INTO policies (tenant_id, document) VALUES ($1, $2::jsonb)",
                tenant,
                json.dumps(POLICY),
            )
            for template, name in ((first, "A"), (second, "B")):
                await connection.execute(
                    "INSERT INTO templates (tenant_id, template_id, name, channel, purpose, subject, body, "
                    "personal_fields) VALUES ($1, $2, $3, 'email', 'marketing', "
                    "'Sale {{ customer.nickname }}', 'Hello', '{nickname}')",
                    tenant,
                    template,
                    f"variant {name}",
                )
            consents, suppressions, erased, earlier = [], [], [], []
            for customer in ids:
                roll = rng.random()
                if roll < SHARES["consent"]:
                    consents.append(
                        (tenant, customer, "email", "marketing", True, anchor - timedelta(days=30))
                    )
                elif roll < SHARES["consent"] + SHARES["withdrawn"]:
                    consents.append(
                        (tenant, customer, "email", "marketing", False, anchor - timedelta(days=3))
                    )
                if rng.random() < SHARES["unsubscribed"]:
                    suppressions.append((tenant, customer, "email", "", "unsubscribed"))
                if rng.random() < SHARES["erased"]:
                    erased.append((tenant, customer, anchor - timedelta(days=1)))
                if rng.random() < SHARES["earlier"]:
                    for _ in range(rng.randint(1, 3)):
                        at = anchor - timedelta(seconds=rng.uniform(3_600, 6 * 86_400))
                        earlier.append(
                            (uuid.UUID(int=rng.getrandbits(128), version=4), tenant, customer, first, "email",
                             "marketing", "api", "sent", at, at)
                        )  # fmt: skip
            columns = ["tenant_id", "customer_id", "channel", "purpose", "granted", "changed_at"]
            await _copy(connection, "consents", columns, consents)
            await _copy(
                connection,
                "suppressions",
                ["tenant_id", "customer_id", "channel", "scope", "reason"],
                suppressions,
            )
            await _copy(connection, "customer_states", ["tenant_id", "customer_id", "erased_at"], erased)
            await _copy(
                connection, "messages",
                ["message_id", "tenant_id", "customer_id", "template_id", "channel", "purpose", "sender",
                 "status", "created_at", "sent_at"],
                earlier,
            )  # fmt: skip
            await connection.execute(
                "CREATE TABLE bench_world (tenant_id uuid, first uuid, second uuid, anchor timestamptz)"
            )
            await connection.execute(
                "INSERT INTO bench_world VALUES ($1, $2, $3, $4)", tenant, first, second, anchor
            )
        await connection.execute("VACUUM (ANALYZE)")
    finally:
        await connection.close()


async def ensure_world(server_url: str, customers: int, seed: int, anchor: datetime, rebuild: bool) -> str:
    """The world's database name, built (migrated, seeded, vacuumed) when missing or ``rebuild``."""
    name = f"patron_bench_campaigns_world_{customers}_s{seed}"
    if rebuild:
        await admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if await exists(server_url, name):
        log(f"world: reusing {name}")
        return name
    building = f"{name}_building"
    await admin(server_url, f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
    await admin(server_url, f'CREATE DATABASE "{building}"')
    log(f"world: building {name} ({customers:,} customers)")
    url = dsn(server_url, building)
    await asyncio.to_thread(migrations.upgrade, "notify", url)
    await _seed(url, customers, seed, anchor)
    await admin(server_url, f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    return name


async def clone(
    server_url: str, world: str, customers: int, seed: int, anchor: datetime
) -> tuple[str, World]:
    """A fresh copy of the world for one run, its earlier messages moved onto ``anchor``."""
    name = f"patron_bench_campaigns_{uuid.uuid4().hex[:10]}"
    await admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{world}"')
    connection = await asyncpg.connect(dsn(server_url, name))
    try:
        row = await connection.fetchrow("SELECT * FROM bench_world")
        await connection.execute(
            "UPDATE messages SET created_at = created_at + ($1 - $2::timestamptz), "
            "sent_at = sent_at + ($1 - $2::timestamptz)",
            anchor,
            row["anchor"],
        )
        await connection.execute("VACUUM (ANALYZE) messages")
    finally:
        await connection.close()
    ids, zones, _ = draw(customers, seed)
    return name, World(row["tenant_id"], (row["first"], row["second"]), ids, zones, anchor)

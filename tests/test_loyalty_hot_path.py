"""The one-statement hot paths on their raw asyncpg pool: what they book, what they refuse, their
points.changed envelope, a key raced on them, and the fallback once the pool is closed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from patron.events.v1 import envelope_pb2
from services.loyalty.domain.errors import InsufficientPoints
from services.loyalty.domain.ledger import LedgerResult, Movement
from services.loyalty.store.fast_moves import balance_at_once, move_at_once
from services.loyalty.store.movements import MOVE_SQL, move_arguments
from services.loyalty.store.programs import ProgramCache
from services.loyalty.store.tables import outbox as outbox_table
from services.loyalty.store.tables import tenants
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.hot_pool import HotConnections
from services.runtime.tenancy import Tenant
from services.runtime.tenant_store import upsert_tenant


async def known_customer(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    """A provisioned tenant and a customer loyalty's projection knows."""
    tenant_id, customer_id = uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as connection:
        await upsert_tenant(connection, tenants, Tenant(tenant_id, "Hot shop", "Asia/Shanghai", "CNY", "CN"))
        await connection.execute(
            sa.text("INSERT INTO loyalty_customers (tenant_id, customer_id) VALUES (:t, :c)"),
            {"t": tenant_id, "c": customer_id},
        )
    return tenant_id, customer_id


async def move(
    db: Database, hot: HotConnections, tenant_id: uuid.UUID, customer_id: uuid.UUID, points: int, key: str
) -> LedgerResult | None:
    return await move_at_once(
        db,
        hot,
        Outbox("loyalty", outbox_table, 16),
        ProgramCache(),
        tenant_id=tenant_id,
        customer_id=customer_id,
        points=points,
        entry_type="adjust" if points > 0 else "redeem",
        reason="test",
        source="test:hot",
        idempotency_key=key,
    )


async def test_credit_debit_replay_and_refusal_in_one_statement(
    loyalty_hot_db: tuple[Database, HotConnections],
) -> None:
    db, hot = loyalty_hot_db
    tenant_id, customer_id = await known_customer(db)
    credited = await move(db, hot, tenant_id, customer_id, 10, "api:a")
    assert credited is not None
    assert credited.balance == 10
    assert not credited.replayed
    again = await move(db, hot, tenant_id, customer_id, 10, "api:a")
    assert again == LedgerResult(credited.entry_id, 10, replayed=True)
    with pytest.raises(InsufficientPoints) as refused:
        await move(db, hot, tenant_id, customer_id, -11, "api:b")
    assert refused.value.metadata["balance"] == "10"
    debited = await move(db, hot, tenant_id, customer_id, -4, "api:c")
    assert debited is not None
    assert debited.balance == 6
    known = await balance_at_once(hot, tenant_id, customer_id, datetime.now(UTC), 30)
    assert known is not None
    assert known[0] == customer_id
    assert known[1].balance == 6
    assert await balance_at_once(hot, tenant_id, uuid.uuid4(), datetime.now(UTC), 30) is None

    async with db.read() as connection:
        rows = (
            await connection.execute(
                sa.text("SELECT envelope FROM outbox WHERE tenant_id = :t ORDER BY id"), {"t": tenant_id}
            )
        ).scalars()
        envelopes = [envelope_pb2.EventEnvelope.FromString(row) for row in rows]
    assert [(e.type, e.points_changed.delta, e.points_changed.balance) for e in envelopes] == [
        ("points.changed", 10, 10),
        ("points.changed", -4, 6),
    ]
    first = envelopes[0]
    assert first.producer == "loyalty"
    assert first.tenant_id == str(tenant_id)
    assert first.customer_id == str(customer_id)
    assert first.occurred_at.seconds > 0
    assert first.points_changed.entry_id == str(credited.entry_id)
    assert first.points_changed.entry_type == "adjust"
    assert first.points_changed.source == "test:hot"


async def test_one_key_raced_on_the_hot_path_books_once(
    loyalty_hot_db: tuple[Database, HotConnections],
) -> None:
    """Racing calls with one key either answer the booking or None (LY409: the caller's
    transactional retry then replays it); one entry, and the pool's connections stay usable."""
    db, hot = loyalty_hot_db
    tenant_id, customer_id = await known_customer(db)
    results = await asyncio.gather(*(move(db, hot, tenant_id, customer_id, 7, "api:same") for _ in range(12)))
    booked = {r.entry_id for r in results if r is not None}
    assert len(booked) == 1
    async with db.read() as connection:
        count = (
            await connection.execute(
                sa.text("SELECT count(*), sum(delta) FROM point_entries WHERE tenant_id = :t"),
                {"t": tenant_id},
            )
        ).one()
    assert tuple(count) == (1, 7)
    after = [await move(db, hot, tenant_id, customer_id, 1, f"api:after-{n}") for n in range(6)]
    assert [r.balance for r in after if r is not None] == [8, 9, 10, 11, 12, 13]


async def test_a_closed_pool_sends_calls_to_the_transactional_path(
    loyalty_hot_db: tuple[Database, HotConnections],
) -> None:
    db, hot = loyalty_hot_db
    tenant_id, customer_id = await known_customer(db)
    assert await move(db, hot, tenant_id, customer_id, 5, "api:x") is not None
    await hot.close()
    assert await move(db, hot, tenant_id, customer_id, 5, "api:y") is None
    assert await balance_at_once(hot, tenant_id, customer_id, datetime.now(UTC), 30) is None


async def _tenant_with_lots(db: Database, customers: int, lots_each: int) -> uuid.UUID:
    """A provisioned tenant whose customers each hold ``lots_each`` live lots (one expiry date)."""
    tenant_id = uuid.uuid4()
    async with db.transaction() as connection:
        await upsert_tenant(connection, tenants, Tenant(tenant_id, "Lots shop", "Asia/Shanghai", "CNY", "CN"))
        await connection.execute(
            sa.text(
                "INSERT INTO loyalty_customers (tenant_id, customer_id) "
                "SELECT :t, gen_random_uuid() FROM generate_series(1, :n)"
            ),
            {"t": tenant_id, "n": customers},
        )
        await connection.execute(
            sa.text(
                "INSERT INTO point_lots (tenant_id, lot_id, customer_id, earned, remaining, earned_at, "
                "expires_at) SELECT :t, gen_random_uuid(), c.customer_id, 5, 5, now() - interval '2 days', "
                "'2031-12-31' FROM loyalty_customers AS c, generate_series(1, :k) "
                "WHERE c.tenant_id = :t"
            ),
            {"t": tenant_id, "k": lots_each},
        )
    return tenant_id


async def test_a_redemption_reads_only_its_customers_lots_in_a_tenant_the_statistics_do_not_know(
    loyalty_hot_db: tuple[Database, HotConnections],
) -> None:
    """A new merchant's lots are not in the table statistics yet. Custom plans estimated its lots
    at one row and re-ran the lot selection once per lot of the tenant: 4,000 lots meant hundreds
    of thousands of buffer reads per redemption. Each redemption here, the first ones (custom plans
    by default) and the later ones alike, reads a few dozen buffers once its statements are planned."""
    db, hot = loyalty_hot_db
    await _tenant_with_lots(db, customers=200, lots_each=10)
    async with db.transaction() as connection:
        for table in ("point_lots", "loyalty_customers", "point_accounts"):
            await connection.execute(sa.text(f"ANALYZE {table}"))
    tenant_id = await _tenant_with_lots(db, customers=400, lots_each=10)
    customer_id = uuid.uuid4()
    async with db.transaction() as connection:
        await connection.execute(
            sa.text("INSERT INTO loyalty_customers (tenant_id, customer_id) VALUES (:t, :c)"),
            {"t": tenant_id, "c": customer_id},
        )
    assert await move(db, hot, tenant_id, customer_id, 1_000, "api:start") is not None

    buffers = []
    async with hot.acquire() as connection:
        for n in range(9):
            movement = Movement(
                tenant_id=tenant_id,
                customer_id=customer_id,
                entry_type="redeem",
                reason="test",
                source="test:hot",
                idempotency_key=f"api:redeem-{n}",
                program_version=0,
                occurred_at=datetime.now(UTC),
            )
            arguments = move_arguments(
                Outbox("loyalty", outbox_table, 16), movement, -1, None, resolve=True, check_version=True
            )
            # the hot pool decodes json as PostgreSQL's other pools do
            explained = await connection.fetchval(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {MOVE_SQL}", *arguments
            )
            plan = explained[0]["Plan"]
            buffers.append(plan["Shared Hit Blocks"] + plan["Shared Read Blocks"])
    # the first one plans the debit's statements on this connection (catalog reads)
    assert max(buffers[1:]) < 150, buffers
    known = await balance_at_once(hot, tenant_id, customer_id, datetime.now(UTC), 30)
    assert known is not None
    assert known[1].balance == 1_000 - 9

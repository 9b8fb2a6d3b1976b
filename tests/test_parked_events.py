"""Issue 18 item 3: a parked event is a problem, loudly. `patron status` exits 1 and names it under
problems; `patron parked list|retry|discard` lists it, runs the consumer's handler again in the
consuming service, or removes it (logged with who and why). On the real services in process.

The parked rows are put in scoring's ``consumer_parked`` as its consumer parks them (an order.paid
envelope): one the handler can apply, one it cannot (a currency longer than the column).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from patron.events.v1 import envelope_pb2
from services.runtime import cli
from services.runtime.database import Database, create_engine
from services.runtime.server import ServiceServer
from services.runtime.status_report import collect, render_text
from services.scoring.store.tables import consumer_parked
from tests.conftest import TenantKey, create_tenant

CONSUMER = "scoring.customers"


@pytest.fixture(scope="module")
async def scoring_db(database_urls: dict[str, str]) -> AsyncIterator[Database]:
    database = Database(
        create_engine(database_urls["scoring"], application_name="test-parked", pool_size=1, max_overflow=0)
    )
    yield database
    await database.dispose()


def _order_paid(tenant_id: str, currency: str) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        type="order.paid",
        customer_id=str(uuid.uuid4()),
        producer="profile",
        partition=3,
        position=10**9,
    )
    now = datetime.now(UTC)
    envelope.occurred_at.FromDatetime(now)
    envelope.order_paid.order_id = f"P-{uuid.uuid4().hex[:8]}"
    envelope.order_paid.paid_at.FromDatetime(now)
    envelope.order_paid.currency = currency
    envelope.order_paid.amount_minor = 12_345
    return envelope


async def _park(database: Database, envelope: envelope_pb2.EventEnvelope) -> int:
    async with database.transaction() as connection:
        parked_id = await connection.execute(
            sa.insert(consumer_parked)
            .values(
                consumer=CONSUMER,
                producer="profile",
                partition=envelope.partition,
                position=envelope.position,
                event_id=uuid.UUID(envelope.event_id),
                type=envelope.type,
                envelope=envelope.SerializeToString(),
                error="DataError: value too long",
                attempts=5,
            )
            .returning(consumer_parked.c.id)
        )
        return int(parked_id.scalar_one())


async def _patron(*argv: str) -> int:
    return await asyncio.to_thread(cli.main, list(argv))


async def test_parked_events_are_problems_and_can_be_retried_or_discarded(
    services: dict[str, ServiceServer],
    scoring_db: Database,
    api: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    shop: TenantKey = await create_tenant(api, "Parked")
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    scoring = addresses["scoring"]
    good = await _park(scoring_db, _order_paid(shop.tenant_id, "CNY"))
    bad = await _park(scoring_db, _order_paid(shop.tenant_id, "EURO"))

    report = await collect(addresses)
    assert report.exit_code == 1
    assert any(f"{CONSUMER} (scoring) has" in problem and "parked" in problem for problem in report.problems)
    assert "problems:" in render_text(report)

    capsys.readouterr()
    assert await _patron("parked", "list", "scoring", "--address", scoring) == 1
    listed = capsys.readouterr().out
    assert f"{good}  {CONSUMER}  order.paid" in listed
    assert shop.tenant_id in listed

    assert await _patron("parked", "retry", "scoring", str(good), "--address", scoring) == 0
    assert "applied and removed" in capsys.readouterr().out
    assert await _patron("parked", "retry", "scoring", str(bad), "--address", scoring) == 1
    assert "still parked" in capsys.readouterr().out
    async with scoring_db.read() as connection:
        rows = (await connection.execute(sa.select(consumer_parked.c.id, consumer_parked.c.attempts))).all()
    assert dict(rows).get(bad) == 6
    assert good not in dict(rows)

    with caplog.at_level(logging.WARNING, logger="services.runtime.events.parked"):
        assert (
            await _patron(
                "parked",
                "discard",
                "scoring",
                str(bad),
                "--by",
                "ops-anna",
                "--reason",
                "bad currency",
                "--address",
                scoring,
            )
            == 0
        )
    assert any("discarded by ops-anna: bad currency" in r.getMessage() for r in caplog.records)
    assert await _patron("parked", "retry", "scoring", str(bad), "--address", scoring) == 2  # gone: NOT_FOUND
    assert (
        await _patron("parked", "discard", "scoring", str(good), "--reason", " ", "--address", scoring) == 2
    )

    capsys.readouterr()
    assert await _patron("parked", "list", "scoring", "--address", scoring) == 0
    assert "no parked events" in capsys.readouterr().out
    assert (await collect(addresses)).exit_code == 0

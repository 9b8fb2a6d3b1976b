"""Issue 15 item 8: erasure reaches the event backbone, and each service says when it is done.

Personal text is planted where the services really put it — a behaviour event's properties, a
refund's reason, a points redemption's reason, an SMTP server's error quoting the address, a merged
customer's event — and a refund that scoring's consumer parks (a trigger of the test refuses its
row, so the real consumer retries it and parks it). After ``DELETE /v1/customers/{id}`` no outbox row
of any service, and no parked row, holds that text, and ``GET /v1/customers/{id}/erasure`` goes from
pending to done for all four services.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from patron.events.v1 import envelope_pb2
from services.notify.store.delivery_queue import DeliveryQueue, Final, Results
from services.notify.store.tables import outbox as notify_outbox
from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.runtime.events.consumer_store import ConsumerStore
from services.runtime.events.outbox import Outbox
from services.runtime.events.parked import ParkedEvents
from services.scoring.store.tables import consumer_members, consumer_parked, consumer_positions
from tests.conftest import TenantKey
from tests.notify_peers import SmtpPeer
from tests.support import PostgresServer
from tests.test_loyalty_api import pay, wait_for_balance
from tests.test_notify_messages_api import consent, email_channel, eventually, message, send, template

SERVICES = ("profile", "loyalty", "scoring", "notify")


@pytest.fixture
async def dbs(database_urls: dict[str, str]) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    connections = {name: await asyncpg.connect(database_urls[name]) for name in SERVICES}
    yield connections
    for connection in connections.values():
        await connection.close()


async def outbox_rows(db: asyncpg.Connection, tenant: TenantKey, customers: list[str]) -> list[Any]:
    """The customers' outbox rows (type, envelope decoded) of one service."""
    rows = await db.fetch(
        "SELECT type, envelope FROM outbox WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) "
        "ORDER BY id",
        uuid.UUID(tenant.tenant_id),
        [uuid.UUID(c) for c in customers],
    )
    return [(row["type"], envelope_pb2.EventEnvelope.FromString(row["envelope"])) for row in rows]


async def holding(
    db: asyncpg.Connection, table: str, tenant: TenantKey, customers: list[str], text: str
) -> int:
    """How many of the customers' rows of ``table`` (outbox, consumer_parked) carry ``text``."""
    count: int = await db.fetchval(
        f"SELECT count(*) FROM {table} WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) "  # noqa: S608
        "AND position(convert_to($3, 'UTF8') IN envelope) > 0",
        uuid.UUID(tenant.tenant_id),
        [uuid.UUID(c) for c in customers],
        text,
    )
    return count


async def parked_count(db: asyncpg.Connection, tenant: TenantKey, customer_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM consumer_parked WHERE tenant_id = $1 AND customer_id = $2",
        uuid.UUID(tenant.tenant_id),
        uuid.UUID(customer_id),
    )
    return count


async def poison_refunds(scoring: asyncpg.Connection, marker: str) -> str:
    """A trigger in scoring's database refusing refunds whose reason holds ``marker``: scoring's
    consumer fails on that event every attempt and parks it, as it would any failing handler."""
    name = f"poison_{uuid.uuid4().hex[:8]}"
    await scoring.execute(
        f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.reason LIKE '%{marker}%' THEN RAISE EXCEPTION 'refund refused by the test'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER {name} BEFORE INSERT ON order_refunds FOR EACH ROW EXECUTE FUNCTION {name}();
        """
    )
    return name


async def erasure(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str) -> httpx.Response:
    return await api.get(f"/v1/customers/{customer_id}/erasure", headers=tenant.headers)


async def test_erasure_scrubs_every_outbox_and_parked_row_and_each_service_reports_it(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, dbs: dict[str, asyncpg.Connection]
) -> None:
    mark = f"13{uuid.uuid4().int % 10**9:09d}"  # a phone number, written into free text
    email = f"jane.{mark}@example.com"
    h = tenant.headers
    body = {
        "identities": [{"type": "email", "value": email}],
        "attributes": {"nickname": "Jane", "city": "Hangzhou", "birthday": "1990-04-01", "timezone": "UTC"},
    }
    jane = (await api.post("/v1/customers/identify", json=body, headers=h)).json()["customer_id"]
    old = {"identities": [{"type": "app_user_id", "value": f"old-{mark}"}]}
    twin = (await api.post("/v1/customers/identify", json=old, headers=h)).json()["customer_id"]
    events = [
        {
            "event_id": f"search-{who}",
            "type": "search",
            "occurred_at": datetime.now(UTC).isoformat(),
            "customer_id": who,
            "properties": {"query": f"Jane Doe {mark}"},
        }
        for who in (jane, twin)
    ]
    assert (await api.post("/v1/events", json={"events": events}, headers=h)).json()["accepted"] == 2
    merged = await api.post(f"/v1/customers/{jane}/merge", json={"other_customer_id": twin}, headers=h)
    assert merged.status_code == 200, merged.text

    order_id = await pay(api, tenant, jane, 10_000)
    await wait_for_balance(api, tenant, jane, 100)
    redeemed = await api.post(
        f"/v1/customers/{jane}/points/redemptions",
        json={"points": 10, "reason": f"gift, call {mark}"},
        headers=h,
    )
    assert redeemed.status_code == 201, redeemed.text

    trigger = await poison_refunds(dbs["scoring"], f"poison {mark}")
    try:
        refund_id = f"RF-{uuid.uuid4().hex[:8]}"
        refund = {"refund_id": refund_id, "amount_minor": 1_000, "reason": f"poison {mark}"}
        response = await api.post(f"/v1/orders/{order_id}/refunds", json=refund, headers=h)
        assert response.status_code in (200, 201), response.text
        parked = await eventually(lambda: parked_count(dbs["scoring"], tenant, jane), lambda n: n == 1)
        assert parked == 1, "scoring's consumer never parked the refund"
    finally:
        await dbs["scoring"].execute(f"DROP TRIGGER {trigger} ON order_refunds; DROP FUNCTION {trigger}()")

    with SmtpPeer() as peer:
        peer.handler.fail.add(email)
        await email_channel(api, tenant, peer)
        await consent(api, tenant, jane)
        queued = await send(api, tenant, jane, await template(api, tenant))
        failed = await eventually(
            lambda: message(api, tenant, queued["message_id"]), lambda m: m["status"] == "failed"
        )
        assert failed["status"] == "failed", failed
    failed_events = await eventually(
        lambda: holding(dbs["notify"], "outbox", tenant, [jane], email), lambda n: n == 1
    )
    assert failed_events == 1, "no message.failed event quotes the address"

    family = [jane, twin]
    assert await holding(dbs["profile"], "outbox", tenant, family, mark) == 3  # 2 searches, the refund
    assert await holding(dbs["loyalty"], "outbox", tenant, family, mark) == 1  # the redemption
    assert await holding(dbs["scoring"], "consumer_parked", tenant, family, mark) == 1
    assert (await erasure(api, tenant, jane)).status_code == 404  # never erased

    # Scoring's consumer waits on its erasure record while the test holds the table, so the status
    # shows it pending; the others finish meanwhile.
    blocker = dbs["scoring"]
    hold = blocker.transaction()
    await hold.start()
    await blocker.execute("LOCK TABLE customer_erasures IN SHARE MODE")
    try:
        erased = await api.delete(f"/v1/customers/{jane}", headers=h)
        assert erased.status_code == 200, erased.text
        status = await eventually(
            lambda: erasure(api, tenant, jane),
            lambda r: r.json()["loyalty"]["status"] == "done" and r.json()["notify"]["status"] == "done",
        )
        seen = status.json()
        assert seen["customer_id"] == jane
        assert seen["profile"]["status"] == "done"
        assert seen["scoring"] == {"status": "pending", "erased_at": None, "reason": None}
        assert seen["status"] == "pending"
    finally:
        await hold.rollback()
    done = await eventually(lambda: erasure(api, tenant, jane), lambda r: r.json()["status"] == "done")
    answer = done.json()
    assert answer["status"] == "done", answer
    requested = datetime.fromisoformat(answer["profile"]["erased_at"])
    for service in SERVICES:
        assert answer[service]["status"] == "done"
        assert datetime.fromisoformat(answer[service]["erased_at"]) >= requested
    # any id of the person answers for the person; it changes nothing to ask again
    assert (await erasure(api, tenant, twin)).json() == answer

    # Nothing of the planted text is left in any outbox or parked row of the family.
    for service in SERVICES:
        for table in ("outbox", "consumer_parked") if service != "profile" else ("outbox",):
            if service == "scoring" and table == "outbox":
                continue  # scoring's events carry no free text (and have no such index)
            for text in (mark, email, "Jane", "Hangzhou"):
                assert await holding(dbs[service], table, tenant, family, text) == 0, (service, table, text)
    assert await parked_count(dbs["scoring"], tenant, jane) == 0
    profile_events = await outbox_rows(dbs["profile"], tenant, family)
    kept = {(kind, e.customer_id) for kind, e in profile_events}
    assert {("event.recorded", jane), ("event.recorded", twin), ("order.paid", jane)} <= kept  # kept, blanked
    for kind, e in profile_events:
        if kind == "event.recorded":
            assert e.event_recorded.properties_json == "{}"
            assert e.event_recorded.event_type == "search"
        if kind == "order.refunded":
            assert (e.order_refunded.reason, e.order_refunded.amount_minor) == ("", 1_000)
        if kind == "customer.created":
            assert not e.customer_created.attributes.HasField("city")
        if kind == "customer.erased":
            assert list(e.customer_erased.merged_ids) == [twin]
    points = [
        e.points_changed
        for kind, e in await outbox_rows(dbs["loyalty"], tenant, [jane])
        if kind == "points.changed"
    ]
    assert [(p.entry_type, p.reason) for p in points if p.entry_type == "redeem"] == [("redeem", "erased")]
    assert {p.delta for p in points} >= {100, -10}
    notify_events = await outbox_rows(dbs["notify"], tenant, [jane])
    assert [e.message_failed.reason for kind, e in notify_events if kind == "message.failed"] == [""]

    # the walls: another tenant, a malformed id, a control character
    assert (await erasure(api, other_tenant, jane)).status_code == 404
    assert (await erasure(api, tenant, "not-a-customer")).status_code == 404
    refused = await api.get("/v1/customers/x%00y/erasure", headers=h)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "customer_id"


async def test_parked_events_are_pruned_after_the_retention(database_urls: dict[str, str]) -> None:
    database = Database(create_engine(database_urls["scoring"], application_name="test-prune", pool_size=1))
    store = ConsumerStore(
        database, (consumer_positions, consumer_members, consumer_parked), "test.prune", "profile", "m", 5.0
    )
    tenant_id, customer_id = uuid.uuid4(), uuid.uuid4()
    try:
        ids = []
        for n in range(2):
            envelope = envelope_pb2.EventEnvelope(
                event_id=str(uuid.uuid4()),
                tenant_id=str(tenant_id),
                customer_id=str(customer_id),
                type="order.refunded",
                position=n + 1,
            )
            envelope.order_refunded.reason = "call me"
            async with database.transaction() as connection:
                await store.park(connection, envelope, "failed", 5)
                ids.append(
                    await connection.scalar(
                        consumer_parked.select()
                        .with_only_columns(consumer_parked.c.id)
                        .where(consumer_parked.c.event_id == uuid.UUID(envelope.event_id))
                    )
                )
        async with database.transaction() as connection:
            await connection.execute(
                consumer_parked.update()
                .where(consumer_parked.c.id == ids[0])
                .values(parked_at=datetime.now(UTC) - timedelta(days=31))
            )
        assert await ParkedEvents(database, consumer_parked, {}).prune(timedelta(days=30)) >= 1
        async with database.read() as connection:
            left = (
                await connection.execute(
                    consumer_parked.select()
                    .with_only_columns(
                        consumer_parked.c.id, consumer_parked.c.tenant_id, consumer_parked.c.customer_id
                    )
                    .where(consumer_parked.c.consumer == "test.prune")
                )
            ).all()
        assert [tuple(row) for row in left] == [(ids[1], tenant_id, customer_id)]
    finally:
        async with database.transaction() as connection:
            await connection.execute(
                consumer_parked.delete().where(consumer_parked.c.consumer == "test.prune")
            )
        await database.dispose()


async def test_the_migration_fills_in_parked_subjects_and_the_erasures_before_it(
    postgres: PostgresServer,
) -> None:
    """Rows parked before scoring_0010 get their tenant and customer from their envelopes; customers
    erased before it count as done, and their parked events go."""
    name = f"ptprv_parked_{uuid.uuid4().hex[:6]}"
    url = await postgres.create_database(name)
    tenant_id, kept, erased = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        await asyncio.to_thread(migrations.upgrade, "scoring", url, "scoring_0009")
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(
                "INSERT INTO customers (tenant_id, customer_id, created_at, erased_at) "
                "VALUES ($1, $2, now(), now() - interval '1 day')",
                tenant_id,
                erased,
            )
            for customer_id in (kept, erased):
                envelope = envelope_pb2.EventEnvelope(
                    event_id=str(uuid.uuid4()),
                    tenant_id=str(tenant_id),
                    customer_id=str(customer_id),
                    type="order.paid",
                )
                await connection.execute(
                    "INSERT INTO consumer_parked (consumer, producer, partition, position, event_id, type,"
                    " envelope, error, attempts) VALUES ('c', 'profile', 0, 1, $1, 'order.paid', $2, 'e', 5)",
                    uuid.UUID(envelope.event_id),
                    envelope.SerializeToString(),
                )
            await asyncio.to_thread(migrations.upgrade, "scoring", url)
            parked = await connection.fetch("SELECT tenant_id, customer_id FROM consumer_parked")
            done = await connection.fetch("SELECT tenant_id, customer_id FROM customer_erasures")
        finally:
            await connection.close()
        assert [(r["tenant_id"], r["customer_id"]) for r in parked] == [(tenant_id, kept)]
        assert [(r["tenant_id"], r["customer_id"]) for r in done] == [(tenant_id, erased)]
    finally:
        await postgres.drop_database(name)


async def test_a_provider_error_that_comes_back_after_the_erasure_is_kept_nowhere(
    tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    """A message in a provider's hands when its customer was erased: the worker's record of the
    failure (which may quote the address) keeps no error, and its event carries no reason."""
    database = Database(create_engine(database_urls["notify"], application_name="test-erased", pool_size=1))
    tenant_id, customer_id, message_id = uuid.UUID(tenant.tenant_id), uuid.uuid4(), uuid.uuid4()
    try:
        async with database.transaction() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO customer_states (tenant_id, customer_id, erased_at) VALUES (:t, :c, now())"
                ),
                {"t": tenant_id, "c": customer_id},
            )
            await connection.execute(
                sa.text(
                    "INSERT INTO messages (message_id, tenant_id, customer_id, template_id, channel, purpose,"
                    " sender, status, attempts, in_flight) VALUES (:m, :t, :c, :tpl, 'email', 'marketing',"
                    " 'api', 'queued', 1, true)"
                ),
                {"m": message_id, "t": tenant_id, "c": customer_id, "tpl": uuid.uuid4()},
            )
        error = "smtp recipient refused: 554 5.7.1 <gone@example.com>: Relay access denied"
        queue = DeliveryQueue(database, Outbox("notify", notify_outbox, 16))
        await queue.record(
            Results([], [], [Final(message_id, 1, "failed", "", error)], []), datetime.now(UTC)
        )
        async with database.read() as connection:
            row = (
                await connection.execute(
                    sa.text("SELECT status, error FROM messages WHERE message_id = :m"), {"m": message_id}
                )
            ).one()
            envelopes = (
                await connection.execute(
                    sa.select(notify_outbox.c.envelope).where(
                        notify_outbox.c.tenant_id == tenant_id, notify_outbox.c.customer_id == customer_id
                    )
                )
            ).scalars()
            reasons = [envelope_pb2.EventEnvelope.FromString(e).message_failed.reason for e in envelopes]
        assert (row.status, row.error) == ("failed", None)
        assert reasons == [""]
    finally:
        await database.dispose()

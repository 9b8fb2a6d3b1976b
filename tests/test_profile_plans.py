"""Profile's lookups by customer stay index lookups for a tenant the statistics do not know yet.

A custom plan takes such a tenant for one row. It then walked all the tenant's customers for a
lookup by id: through the primary key with only the tenant bounded (``customer_id = ANY(...)``
became a filter, to keep the ``ORDER BY``), or through the listing index. That grows with the
tenant until autovacuum analyses the table, which on a large table can take a long while. The
lookups compare the tenant with ``opaque_tenant`` (an average tenant's estimate). Here, 300
lookups (survivor, then the customer with its identities) in a new tenant of 60,000 customers took
about 4.5 s before, and take 0.5-1 s; notify's recipient lookups, 100 customers a call, about
0.3 s a call before and 2 ms now.
"""

from __future__ import annotations

import os
import time
import uuid

import sqlalchemy as sa

from services.profile.store.customers import SqlCustomerStore
from services.profile.store.merges import resolve_survivors
from services.profile.store.pii import PiiCipher
from services.profile.store.recipients import SqlRecipientStore
from services.profile.store.tables import outbox
from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox

LOOKUPS = 300


async def _tenant_with_customers(database: Database, count: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    tenant_id = uuid.uuid4()
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
                "VALUES (:t, 'plans', 'Asia/Shanghai', 'CNY', 'CN')"
            ),
            {"t": tenant_id},
        )
        ids = list(
            (
                await connection.execute(
                    sa.text(
                        "INSERT INTO customers (tenant_id, customer_id) "
                        "SELECT :t, gen_random_uuid() FROM generate_series(1, :n) RETURNING customer_id"
                    ),
                    {"t": tenant_id, "n": count},
                )
            ).scalars()
        )
    return tenant_id, ids


async def test_lookups_of_a_tenant_unknown_to_the_statistics_stay_lookups(
    database_urls: dict[str, str],
) -> None:
    database = Database(
        create_engine(database_urls["profile"], application_name="profile-plans", pool_size=1)
    )
    store = SqlCustomerStore(
        database, PiiCipher(os.urandom(32), os.urandom(32)), Outbox("profile", outbox, 16)
    )
    try:
        await _tenant_with_customers(database, 2_000)
        await _tenant_with_customers(database, 2_000)
        async with database.transaction() as connection:
            await connection.execute(sa.text("ANALYZE customers"))
        tenant_id, ids = await _tenant_with_customers(database, 60_000)  # not analysed
        started = time.perf_counter()
        async with database.read() as connection:
            for customer_id in ids[-LOOKUPS:]:
                survivors = await resolve_survivors(connection, tenant_id, [customer_id], lock="key_share")
                assert survivors == {customer_id: customer_id}
                customer = await store.load(connection, tenant_id, customer_id, requested=customer_id)
                assert customer.customer_id == customer_id
        seconds = time.perf_counter() - started
        assert seconds < 3.0, seconds

        # notify's recipients, 100 at a time: about 280 ms a call before, 2 ms now
        recipients = SqlRecipientStore(database, PiiCipher(os.urandom(32), os.urandom(32)))
        started = time.perf_counter()
        for batch in range(10):
            resolved = await recipients.resolve_recipients(
                tenant_id, ids[batch * 100 : (batch + 1) * 100], "email", reveal=False
            )
            assert len(resolved) == 100
        seconds = time.perf_counter() - started
        assert seconds < 1.5, seconds
    finally:
        await database.dispose()

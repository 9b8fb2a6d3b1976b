"""The one-statement 360 parts against the step-by-step reads they replace, on the real databases:
loyalty's (a known customer, one its projection has not seen, an erased one, a programme changed
since it was cached) and profile's (merge chains, erased and unknown ids), each also once its hot
pool is closing."""

from __future__ import annotations

import dataclasses
import os
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa

from patron.profile.v1 import profile_pb2_grpc
from services.loyalty.clients.profile_customers import ProfileCustomers
from services.loyalty.domain.customer_360 import Customer360Desk
from services.loyalty.domain.points_desk import PointsDesk
from services.loyalty.domain.program import default_program
from services.loyalty.store.accounts import balance_of
from services.loyalty.store.customer_360_at_once import LoyaltyPartAtOnce
from services.loyalty.store.customer_360_reads import SqlMemberReads
from services.loyalty.store.customer_directory import CustomerDirectory
from services.loyalty.store.membership_reads import membership_view
from services.loyalty.store.points import SqlPointsStore
from services.loyalty.store.programs import ProgramCache, current_program, store_program
from services.loyalty.store.tables import outbox as loyalty_outbox
from services.profile.store.customer_360_reads import SqlCustomer360Store
from services.profile.store.customers import SqlCustomerStore
from services.profile.store.pii import PiiCipher
from services.profile.store.tables import outbox as profile_outbox
from services.runtime.database import Database, create_engine
from services.runtime.errors import NotFound
from services.runtime.events.outbox import Outbox
from services.runtime.hot_pool import HotConnections
from tests.support import free_port
from tests.test_loyalty_hot_path import known_customer, move
from tests.test_profile_plans import _tenant_with_customers


async def test_loyaltys_part_in_one_statement_is_the_step_by_step_part(
    loyalty_hot_db: tuple[Database, HotConnections],
) -> None:
    db, hot = loyalty_hot_db
    tenant_id, customer_id = await known_customer(db)
    assert await move(db, hot, tenant_id, customer_id, 40, "api:welcome") is not None
    now = datetime.now(UTC)
    part = await LoyaltyPartAtOnce(db, hot, ProgramCache()).read(tenant_id, customer_id, now, 30, 10)
    assert part is not None
    survivor, balance, membership, coupons = part
    async with db.read() as connection:
        program = await current_program(connection, tenant_id)
        expected_balance = await balance_of(connection, tenant_id, customer_id, now, 30)
        expected_view = await membership_view(
            connection, program, tenant_id=tenant_id, customer_id=customer_id, now=now
        )
    assert (survivor, balance, membership) == (customer_id, expected_balance, expected_view)
    assert balance.balance == 40
    assert (coupons.items, coupons.next_cursor) == ([], None)


async def test_loyaltys_part_steps_aside_for_the_unseen_and_the_stale_and_refuses_the_erased(
    loyalty_hot_db: tuple[Database, HotConnections],
) -> None:
    db, hot = loyalty_hot_db
    tenant_id, customer_id = await known_customer(db)
    cache = ProgramCache()
    reader = LoyaltyPartAtOnce(db, hot, cache)
    now = datetime.now(UTC)
    # a customer loyalty's projection has not seen: only the transactional path asks profile
    assert await reader.read(tenant_id, uuid.uuid4(), now, 30, 10) is None

    # a programme stored since the cache was filled (by another replica): not answered, and the
    # cache entry is dropped so that the next call reads the new programme
    assert await reader.read(tenant_id, customer_id, now, 30, 10) is not None
    ladder = default_program("CNY").ladder
    changed = dataclasses.replace(
        default_program("CNY"), ladder=dataclasses.replace(ladder, window_months=ladder.window_months + 1)
    )
    async with db.transaction() as connection:
        await store_program(connection, tenant_id, changed)
    assert await reader.read(tenant_id, customer_id, now, 30, 10) is None
    fresh = await reader.read(tenant_id, customer_id, now, 30, 10)
    assert fresh is not None
    assert fresh[2].window_months == ladder.window_months + 1

    async with db.transaction() as connection:
        await connection.execute(
            sa.text(
                "UPDATE loyalty_customers SET erased_at = now() WHERE tenant_id = :t AND customer_id = :c"
            ),
            {"t": tenant_id, "c": customer_id},
        )
    with pytest.raises(NotFound):
        await reader.read(tenant_id, customer_id, now + timedelta(seconds=1), 30, 10)


def _loyalty_desk(db: Database, hot: HotConnections, profile: grpc.aio.Channel) -> Customer360Desk:
    """Loyalty's 360 desk as the service wires it; profile is never asked about a known customer."""
    programs = ProgramCache()
    directory = CustomerDirectory(ProfileCustomers(profile_pb2_grpc.CustomerServiceStub(profile)))
    points = SqlPointsStore(db, hot, Outbox("loyalty", loyalty_outbox, 16), directory, programs)
    return Customer360Desk(
        PointsDesk(points), SqlMemberReads(db, directory), LoyaltyPartAtOnce(db, hot, programs)
    )


async def test_a_closing_hot_pool_sends_loyaltys_part_to_the_step_by_step_reads(
    loyalty_hot_db: tuple[Database, HotConnections],
) -> None:
    db, hot = loyalty_hot_db
    tenant_id, customer_id = await known_customer(db)
    assert await move(db, hot, tenant_id, customer_id, 25, "api:welcome") is not None
    closed = HotConnections(db, "loyalty", size=1)
    await closed.close()
    assert (
        await LoyaltyPartAtOnce(db, closed, ProgramCache()).read(
            tenant_id, customer_id, datetime.now(UTC), 30, 10
        )
        is None
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}") as nowhere:
        at_once = await _loyalty_desk(db, hot, nowhere).part(tenant_id, str(customer_id), 30, 10)
        step_by_step = await _loyalty_desk(db, closed, nowhere).part(tenant_id, str(customer_id), 30, 10)
    assert step_by_step.balance.balance == 25
    assert dataclasses.replace(step_by_step, now=at_once.now) == at_once


async def test_profiles_part_in_one_statement_is_the_step_by_step_part(database_urls: dict[str, str]) -> None:
    """A chain of merges (three → two → one), a merged-away id, an erased customer and an unknown id:
    the statement answers what the step-by-step reads answer (the hot pool closed forces those)."""
    database = Database(
        create_engine(database_urls["profile"], application_name="test-360-parts", pool_size=2)
    )
    cipher = PiiCipher(os.urandom(32), os.urandom(32))
    customers = SqlCustomerStore(database, cipher, Outbox("profile", profile_outbox, 16))
    at_once_pool, closed_pool = (
        HotConnections(database, "profile", size=1),
        HotConnections(database, "profile", size=2),
    )
    await closed_pool.close()
    at_once = SqlCustomer360Store(database, customers, at_once_pool)
    step_by_step = SqlCustomer360Store(database, customers, closed_pool)
    try:
        tenant_id, (live, second, third, erased) = await _tenant_with_customers(database, 4)
        async with database.transaction() as connection:
            for merged, into in ((third, second), (second, live)):
                await connection.execute(
                    sa.text(
                        "UPDATE customers SET merged_into = :into WHERE tenant_id = :t AND customer_id = :c"
                    ),
                    {"into": into, "t": tenant_id, "c": merged},
                )
            await connection.execute(
                sa.text("UPDATE customers SET erased_at = now() WHERE tenant_id = :t AND customer_id = :c"),
                {"t": tenant_id, "c": erased},
            )
        for asked in (live, second, third, erased, uuid.uuid4()):
            expected = await step_by_step.part(tenant_id, asked, 10)
            assert await at_once.part(tenant_id, asked, 10) == expected
            if asked in (live, second, third):
                assert expected is not None
                assert expected.customer.customer_id == live
        assert await at_once.part(uuid.uuid4(), live, 10) is None  # another tenant's id
    finally:
        await at_once_pool.close()
        await database.dispose()

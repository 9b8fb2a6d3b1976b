"""Issue 18 item 2: money that profile accepts, every consumer can hold.

Profile bounds an amount, each line's total and the lines' sum at 10^15 minor units; orders at those
bounds go through profile → scoring's and loyalty's consumers (hypothesis) and are scored and
credited exactly, never parked; a customer whose sums pass BIGINT is scored at the ceiling.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.events.v1 import envelope_pb2
from services.loyalty.domain.earning import MAX_POINTS_PER_ORDER, order_points
from services.loyalty.domain.program import (
    MAX_MULTIPLIER_PERCENT,
    MAX_POINTS_PER_UNIT,
    default_program,
)
from services.profile.domain.order_rules import MAX_AMOUNT_MINOR, MAX_ITEMS, MAX_QUANTITY
from services.runtime.database import Database, create_engine
from services.runtime.tenancy import Tenant
from services.runtime.tenant_store import upsert_tenant
from services.scoring.domain.config import ScoringConfig
from services.scoring.store.feature_tables import orders
from services.scoring.store.score_sql import BIGINT_MAX, Scope, feature_parameters, features_sql
from services.scoring.store.tables import customers, tenants
from tests.conftest import TenantKey, create_tenant

WAIT_SECONDS = 20.0

# One order's lines: quantity, then a unit price that keeps the line's total within the bound.
line = st.integers(1, MAX_QUANTITY).flatmap(
    lambda quantity: st.tuples(
        st.one_of(st.just(MAX_AMOUNT_MINOR // quantity), st.integers(0, MAX_AMOUNT_MINOR // quantity)),
        st.just(quantity),
    )
)
# From 1: scoring counts no zero-amount order (like a fully refunded one), so it could not be awaited.
amount = st.one_of(
    st.sampled_from([1, MAX_AMOUNT_MINOR - 1, MAX_AMOUNT_MINOR]), st.integers(1, MAX_AMOUNT_MINOR)
)
order_at_bounds = st.tuples(amount, st.lists(line, min_size=1, max_size=3)).filter(
    lambda order: sum(price * quantity for price, quantity in order[1]) <= MAX_AMOUNT_MINOR
)


def _body(order_id: str, customer_id: str, amount_minor: int, lines: list[tuple[int, int]]) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "paid_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "currency": "CNY",
        "amount_minor": amount_minor,
        "items": [{"sku": f"S{n}", "unit_price_minor": p, "quantity": q} for n, (p, q) in enumerate(lines)],
    }


async def _identify(api: httpx.AsyncClient, shop: TenantKey) -> str:
    response = await api.post(
        "/v1/customers/identify",
        json={"identities": [{"type": "email", "value": f"{uuid.uuid4().hex}@example.com"}]},
        headers=shop.headers,
    )
    assert response.status_code in (200, 201), response.text
    customer_id: str = response.json()["customer_id"]
    return customer_id


async def _until(check: Any, urls: dict[str, str], tenant_id: str) -> Any:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        result = await check()
        if result is not None:
            return result
        if asyncio.get_running_loop().time() > deadline:
            parked = await _parked_for(urls, tenant_id)
            raise AssertionError(f"the consumers did not catch up ({check.__name__}); parked: {parked}")
        await asyncio.sleep(0.05)


async def _parked_for(urls: dict[str, str], tenant_id: str) -> list[str]:
    """The errors of events of ``tenant_id`` parked by scoring's or loyalty's consumers."""
    errors = []
    for service in ("scoring", "loyalty"):
        database = Database(
            create_engine(urls[service], application_name="test-money-parked", pool_size=1, max_overflow=0)
        )
        try:
            async with database.read() as connection:
                rows = (
                    await connection.execute(sa.text("SELECT envelope, error FROM consumer_parked"))
                ).all()
        finally:
            await database.dispose()
        for blob, error in rows:
            if envelope_pb2.EventEnvelope.FromString(blob).tenant_id == tenant_id:
                errors.append(f"{service}: {error}")
    return errors


async def _example(
    api: httpx.AsyncClient,
    shop: TenantKey,
    urls: dict[str, str],
    placed: list[tuple[int, list[tuple[int, int]]]],
) -> None:
    customer_id = await _identify(api, shop)
    for amount_minor, lines in placed:
        body = _body(f"M-{uuid.uuid4().hex[:16]}", customer_id, amount_minor, lines)
        response = await api.post("/v1/orders", json=body, headers=shop.headers)
        assert response.status_code == 201, response.text
    paid = [a for a, _ in placed]

    seen: list[Any] = []

    async def scored() -> dict[str, Any] | None:
        response = await api.get(f"/v1/customers/{customer_id}/scores", headers=shop.headers)
        body: dict[str, Any] = response.json() if response.status_code == 200 else {}
        features = body.get("features") or {}
        seen.append((response.status_code, features.get("order_count"), len(paid)))
        return body if features.get("order_count") == len(paid) else None

    try:
        features = (await _until(scored, urls, shop.tenant_id))["features"]
    except AssertionError as error:
        raise AssertionError(f"{error}; last seen {seen[-1:]}; placed {placed}") from None
    assert features["net_spend_minor"] == sum(paid)
    units = [a // 100 for a in paid]  # CNY: 100 fen a yuan; the default programme earns 1 a yuan
    first_tier = 100
    highest_tier = 200

    async def credited() -> dict[str, Any] | None:
        response = await api.get(f"/v1/customers/{customer_id}/points", headers=shop.headers)
        body: dict[str, Any] = response.json()
        return body if body["balance"] >= sum(units) else None

    balance = 0 if sum(units) == 0 else (await _until(credited, urls, shop.tenant_id))["balance"]
    assert units[0] * first_tier // 100 <= balance <= sum(u * highest_tier // 100 for u in units)
    assert await _parked_for(urls, shop.tenant_id) == []


async def test_orders_at_the_bounds_are_scored_and_credited(
    api: httpx.AsyncClient, database_urls: dict[str, str]
) -> None:
    shop = await create_tenant(api, "Money at the edges", timezone="UTC", currency="CNY")
    loop = asyncio.get_running_loop()

    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    @given(placed=st.lists(order_at_bounds, min_size=1, max_size=3))
    def check(placed: list[tuple[int, list[tuple[int, int]]]]) -> None:
        asyncio.run_coroutine_threadsafe(_example(api, shop, database_urls, placed), loop).result()

    await asyncio.to_thread(check)


async def test_the_reported_order_is_refused_naming_the_line(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    customer_id = await _identify(api, tenant)
    reported = _body("BIG-1", customer_id, 10**15, [(10**15, 10_000)])
    response = await api.post("/v1/orders", json=reported, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert "items[0].quantity" in response.text
    too_many = _body(
        "BIG-2", customer_id, 10**15, [(MAX_AMOUNT_MINOR // 2 + 1, 1), (MAX_AMOUNT_MINOR // 2, 1)]
    )
    response = await api.post("/v1/orders", json=too_many, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert '"items"' in response.text
    exactly = _body("BIG-3", customer_id, 10**15, [(MAX_AMOUNT_MINOR // 2, 1), (MAX_AMOUNT_MINOR // 2, 1)])
    assert (await api.post("/v1/orders", json=exactly, headers=tenant.headers)).status_code == 201


def test_one_order_at_the_bounds_fits_every_derived_figure() -> None:
    lines = MAX_ITEMS * MAX_AMOUNT_MINOR  # even unchecked, 500 lines at the bound stay within BIGINT
    assert lines <= BIGINT_MAX
    program = default_program("JPY")  # one minor unit a unit: the most points per minor unit
    points = order_points(MAX_AMOUNT_MINOR, 1, program.earn, tier_multiplier_percent=200, birthday=True)
    assert points <= BIGINT_MAX
    # Sums: a customer passes BIGINT only after this many orders at the bound (scored at the ceiling).
    assert BIGINT_MAX // MAX_AMOUNT_MINOR == 9_223


def test_a_maximal_loyalty_programme_fits_bigint() -> None:
    program = default_program("JPY")
    rules = dataclasses.replace(
        program.earn, points_per_unit=MAX_POINTS_PER_UNIT, birthday_multiplier_percent=MAX_MULTIPLIER_PERCENT
    )
    points = order_points(
        MAX_AMOUNT_MINOR, 1, rules, tier_multiplier_percent=MAX_MULTIPLIER_PERCENT, birthday=True
    )
    assert points == MAX_POINTS_PER_ORDER
    assert BIGINT_MAX // MAX_POINTS_PER_ORDER > 900  # orders at the ceiling before a balance overflows


@pytest.fixture(scope="module")
async def scoring_db(database_urls: dict[str, str]) -> AsyncIterator[Database]:
    database = Database(
        create_engine(
            database_urls["scoring"], application_name="test-money-bounds", pool_size=1, max_overflow=0
        )
    )
    yield database
    await database.dispose()


async def test_a_customer_past_bigint_is_scored_at_the_ceiling(scoring_db: Database) -> None:
    tenant_id, customer_id = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    count = BIGINT_MAX // MAX_AMOUNT_MINOR + 2
    async with scoring_db.transaction() as connection:
        await upsert_tenant(connection, tenants, Tenant(tenant_id, "Ceiling", "UTC", "CNY", "CN"))
        await connection.execute(
            sa.insert(customers).values(tenant_id=tenant_id, customer_id=customer_id, created_at=now)
        )
        await connection.execute(
            sa.insert(orders),
            [
                {
                    "tenant_id": tenant_id,
                    "order_id": f"C-{n}",
                    "customer_id": customer_id,
                    "paid_at": now - timedelta(minutes=n),
                    "currency": "CNY",
                    "amount_minor": MAX_AMOUNT_MINOR,
                }
                for n in range(count)
            ],
        )
    parameters = feature_parameters(tenant_id, "UTC", now.date(), ScoringConfig())
    async with scoring_db.read() as connection:
        row = (
            await connection.execute(sa.text(features_sql(Scope.IDS)), {**parameters, "ids": [customer_id]})
        ).one()
    assert row.order_count == count
    assert row.net_spend_minor == BIGINT_MAX
    assert row.monetary_minor == BIGINT_MAX

"""CouponService.IssueCoupons on the real services: a thousand coupons in one call with their events,
replays across batches and the single RPC, the limit and the budget in request order, merged and
erased customers as the single path treats them, racing batches issuing each key once, a property
against a plain model, and bad input named by its path."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.loyalty.v1 import coupons_pb2, coupons_pb2_grpc
from services.loyalty.store.ledger_tables import customers
from services.loyalty.store.tables import outbox
from services.notify.clients.journey_effects import JourneyEffectsClient
from services.notify.domain.journey_ports import CouponOutcome, CouponRequest
from services.runtime.errors import Unavailable
from services.runtime.grpc_errors import parse_status_details
from services.runtime.server import ServiceServer
from services.runtime.tenancy import TENANT_METADATA_KEY
from tests.conftest import TenantKey
from tests.support import free_port
from tests.test_coupons import template
from tests.test_loyalty_api import new_customer

Item = tuple[str, str, str]  # customer_id, template_id, idempotency key


@pytest.fixture
async def coupons(services: dict[str, ServiceServer]) -> AsyncIterator[coupons_pb2_grpc.CouponServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{services['loyalty'].bound_port}") as channel:
        yield coupons_pb2_grpc.CouponServiceStub(channel)


def _metadata(tenant: TenantKey) -> tuple[tuple[str, str]]:
    return ((TENANT_METADATA_KEY, tenant.tenant_id),)


async def batch(
    stub: coupons_pb2_grpc.CouponServiceStub, tenant: TenantKey, items: list[Item]
) -> list[coupons_pb2.IssueCouponsResult]:
    request = coupons_pb2.IssueCouponsRequest(
        items=[
            coupons_pb2.IssueCouponsItem(customer_id=c, template_id=t, idempotency_key=k) for c, t, k in items
        ]
    )
    answer = await stub.IssueCoupons(request, metadata=_metadata(tenant), timeout=30)
    return list(answer.results)


async def single(
    stub: coupons_pb2_grpc.CouponServiceStub, tenant: TenantKey, customer: str, template_id: str, key: str
) -> coupons_pb2.IssueCouponResponse:
    request = coupons_pb2.IssueCouponRequest(
        customer_id=customer, template_id=template_id, idempotency_key=key
    )
    answer: coupons_pb2.IssueCouponResponse = await stub.IssueCoupon(
        request, metadata=_metadata(tenant), timeout=10
    )
    return answer


async def issued_events(services: dict[str, ServiceServer], customer_ids: list[str]) -> int:
    async with services["loyalty"].database.read() as connection:
        count = (
            await connection.execute(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(
                    outbox.c.type == "coupon.issued",
                    outbox.c.customer_id.in_([uuid.UUID(c) for c in customer_ids]),
                )
            )
        ).scalar_one()
    return int(count)


async def issued_of(api: httpx.AsyncClient, tenant: TenantKey, template_id: str) -> int:
    shown = await api.get(f"/v1/coupon-templates/{template_id}", headers=tenant.headers)
    issued: int = shown.json()["issued"]
    return issued


async def some_customers(api: httpx.AsyncClient, tenant: TenantKey, count: int) -> list[str]:
    """``count`` new customers, a few identified at a time."""
    gate = asyncio.Semaphore(8)

    async def one() -> str:
        async with gate:
            return await new_customer(api, tenant)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _until_known(services: dict[str, ServiceServer], people: list[str]) -> None:
    """Wait until loyalty's projection has taken in the customers' customer.created."""
    ids = [uuid.UUID(c) for c in people]
    for _ in range(400):
        async with services["loyalty"].database.read() as connection:
            known = (
                await connection.execute(
                    sa.select(sa.func.count()).select_from(customers).where(customers.c.customer_id.in_(ids))
                )
            ).scalar_one()
        if known == len(ids):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("loyalty never learned of the customers")


def reasons(results: list[coupons_pb2.IssueCouponsResult]) -> list[str]:
    return [r.refused_reason or ("replayed" if r.replayed else "issued") for r in results]


async def test_a_thousand_items_issue_a_thousand_coupons_once_with_their_events(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    services: dict[str, ServiceServer],
    coupons: coupons_pb2_grpc.CouponServiceStub,
) -> None:
    flat = await template(api, tenant, kind="no_threshold", discount_minor=500, per_customer_limit=10)
    people = await some_customers(api, tenant, 100)
    await _until_known(services, people)  # a journey's customers are known to loyalty
    items = [(people[i % 100], flat["template_id"], f"journey:{i}") for i in range(1_000)]

    first = await batch(coupons, tenant, items)
    assert reasons(first) == ["issued"] * 1_000
    assert len({r.coupon.code for r in first}) == 1_000
    assert [r.coupon.customer_id for r in first] == [c for c, _, _ in items]
    assert await issued_events(services, people) == 1_000
    assert await issued_of(api, tenant, flat["template_id"]) == 1_000

    again = await batch(coupons, tenant, items)
    assert reasons(again) == ["replayed"] * 1_000
    assert [r.coupon.code for r in again] == [r.coupon.code for r in first]
    assert await issued_events(services, people) == 1_000
    assert await issued_of(api, tenant, flat["template_id"]) == 1_000


async def test_keys_are_shared_with_the_single_rpc(
    api: httpx.AsyncClient, tenant: TenantKey, coupons: coupons_pb2_grpc.CouponServiceStub
) -> None:
    flat = await template(api, tenant, kind="no_threshold", discount_minor=100, per_customer_limit=5)
    customer = await new_customer(api, tenant)
    by_single = await single(coupons, tenant, customer, flat["template_id"], "single-first")
    results = await batch(
        coupons,
        tenant,
        [(customer, flat["template_id"], "single-first"), (customer, flat["template_id"], "batch-first")],
    )
    assert reasons(results) == ["replayed", "issued"]
    assert results[0].coupon.code == by_single.coupon.code
    later = await single(coupons, tenant, customer, flat["template_id"], "batch-first")
    assert later.replayed
    assert later.coupon.code == results[1].coupon.code
    assert await issued_of(api, tenant, flat["template_id"]) == 2


async def test_limit_budget_and_refusals_in_request_order(
    api: httpx.AsyncClient, tenant: TenantKey, coupons: coupons_pb2_grpc.CouponServiceStub
) -> None:
    limited = await template(
        api, tenant, kind="no_threshold", discount_minor=100, per_customer_limit=2, budget=5
    )
    other = await template(api, tenant, kind="no_threshold", discount_minor=100)
    a, b, c = [await new_customer(api, tenant) for _ in range(3)]
    t = limited["template_id"]
    items = [
        (a, t, "a1"),
        (a, t, "a2"),
        (a, t, "a3"),  # the limit
        (b, t, "b1"),
        (a, t, "a1"),  # the first a1 again, replayed
        (b, t, "a1"),  # a1 names another customer's coupon
        (b, t, "b2"),
        (c, t, "c1"),  # the fifth and last of the budget
        (c, t, "c2"),  # the budget is spent
        (str(uuid.uuid4()), t, "nobody"),
        ("not-a-uuid", t, "nothing"),
        (a, str(uuid.uuid4()), "no-template"),
        (a, "not-a-uuid", "no-template-2"),
        (a, other["template_id"], "x1"),
    ]
    results = await batch(coupons, tenant, items)
    assert reasons(results) == [
        "issued",
        "issued",
        "PER_CUSTOMER_LIMIT_REACHED",
        "issued",
        "replayed",
        "KEY_REUSED",
        "issued",
        "issued",
        "BUDGET_EXHAUSTED",
        "CUSTOMER_NOT_FOUND",
        "CUSTOMER_NOT_FOUND",
        "TEMPLATE_NOT_FOUND",
        "TEMPLATE_NOT_FOUND",
        "issued",
    ]
    assert results[4].coupon.code == results[0].coupon.code
    assert not results[2].HasField("coupon")
    shown = (await api.get(f"/v1/coupon-templates/{t}", headers=tenant.headers)).json()
    assert (shown["issued"], shown["remaining_budget"]) == (5, 0)
    listed = await api.get(f"/v1/customers/{a}/coupons", headers=tenant.headers)
    assert len(listed.json()["items"]) == 3
    # The single path agrees: a third coupon of the template is beyond a's limit.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await single(coupons, tenant, a, t, "a-single")
    assert parse_status_details(refused.value.trailing_metadata())[0] == "PER_CUSTOMER_LIMIT_REACHED"


async def _until_projected(services: dict[str, ServiceServer], customer: str, column: str) -> None:
    for _ in range(200):
        async with services["loyalty"].database.read() as connection:
            value = (
                await connection.execute(
                    sa.select(customers.c[column]).where(customers.c.customer_id == uuid.UUID(customer))
                )
            ).scalar_one_or_none()
        if value is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"loyalty never recorded {column} of {customer}")


async def test_merged_and_erased_customers_as_the_single_path(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    services: dict[str, ServiceServer],
    coupons: coupons_pb2_grpc.CouponServiceStub,
) -> None:
    flat = await template(api, tenant, kind="no_threshold", discount_minor=100, per_customer_limit=3)
    keep, fold, gone = [await new_customer(api, tenant) for _ in range(3)]
    merged = await api.post(
        f"/v1/customers/{keep}/merge", json={"other_customer_id": fold}, headers=tenant.headers
    )
    assert merged.status_code == 200, merged.text
    assert (await api.delete(f"/v1/customers/{gone}", headers=tenant.headers)).status_code == 200
    await _until_projected(services, fold, "merged_into")
    await _until_projected(services, gone, "erased_at")

    t = flat["template_id"]
    results = await batch(coupons, tenant, [(fold, t, "m1"), (keep, t, "m2"), (gone, t, "e1")])
    assert reasons(results) == ["issued", "issued", "CUSTOMER_NOT_FOUND"]
    assert results[0].coupon.customer_id == results[1].coupon.customer_id == keep
    by_single = await single(coupons, tenant, fold, t, "m3")
    assert by_single.coupon.customer_id == keep
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await single(coupons, tenant, gone, t, "e2")
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    # The survivor now holds three: the limit counts the merged id's issues as theirs.
    over = await batch(coupons, tenant, [(fold, t, "m4")])
    assert reasons(over) == ["PER_CUSTOMER_LIMIT_REACHED"]


async def test_racing_batches_and_single_issues_issue_each_key_once(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    services: dict[str, ServiceServer],
    coupons: coupons_pb2_grpc.CouponServiceStub,
) -> None:
    flat = await template(api, tenant, kind="no_threshold", discount_minor=100, per_customer_limit=100)
    scarce = await template(api, tenant, kind="no_threshold", discount_minor=100, per_customer_limit=3)
    people = await some_customers(api, tenant, 20)
    t, s = flat["template_id"], scarce["template_id"]

    def items(start: int, stop: int) -> list[Item]:
        return [(people[i % 20], t, f"race:{i}") for i in range(start, stop)]

    # Three batches overlapping on keys, single issues on some of the same keys, and a second
    # template the batches touch in the other order (locks are taken in template order anyway).
    runs = [
        [*items(0, 200), (people[0], s, "scarce:a")],
        [(people[0], s, "scarce:b"), *items(100, 300)],
        [*items(150, 250), (people[0], s, "scarce:c"), (people[0], s, "scarce:d")],
    ]
    batches = asyncio.gather(*(batch(coupons, tenant, run) for run in runs))
    singles = asyncio.gather(
        *(single(coupons, tenant, people[i % 20], t, f"race:{i}") for i in range(90, 110))
    )
    by_batch, by_single = await asyncio.gather(batches, singles)
    codes: dict[str, set[str]] = {}
    fresh: Counter[str] = Counter()
    for run, results in zip(runs, by_batch, strict=True):
        for (_, template_id, key), result in zip(run, results, strict=True):
            if template_id == s:
                continue
            assert result.HasField("coupon"), result
            codes.setdefault(key, set()).add(result.coupon.code)
            fresh[key] += not result.replayed
    for i, answer in zip(range(90, 110), by_single, strict=True):
        codes.setdefault(f"race:{i}", set()).add(answer.coupon.code)
        fresh[f"race:{i}"] += not answer.replayed
    assert len(codes) == 300
    assert all(len(found) == 1 for found in codes.values())
    assert set(fresh.values()) == {1}  # each key issued by exactly one call, replayed by the others
    assert await issued_of(api, tenant, t) == 300
    assert await issued_of(api, tenant, s) == 3  # four keys, the limit of one customer
    assert await issued_events(services, people) == 303


# --- the property: random batches and single issues against a plain model -------------------------

CUSTOMERS = 3  # a fourth index is a customer nobody knows
KEYS = 6


@dataclass
class Model:
    """What sequential single issues would do: the coupons by key, holdings and issued counts."""

    limits: list[int]
    budgets: list[int | None]
    by_key: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    held: Counter[tuple[int, int]] = field(default_factory=Counter)
    issued: Counter[int] = field(default_factory=Counter)

    def expect(self, customer: int, tmpl: int, key: str) -> tuple[str, str | None]:
        """(outcome, code of the coupon it must answer: None for a new one)."""
        if customer == CUSTOMERS:
            return "CUSTOMER_NOT_FOUND", None
        if key in self.by_key:
            c, t, code = self.by_key[key]
            return ("replayed", code) if (c, t) == (customer, tmpl) else ("KEY_REUSED", None)
        if self.held[(customer, tmpl)] >= self.limits[tmpl]:
            return "PER_CUSTOMER_LIMIT_REACHED", None
        budget = self.budgets[tmpl]
        if budget is not None and self.issued[tmpl] >= budget:
            return "BUDGET_EXHAUSTED", None
        return "issued", None

    def record(self, customer: int, tmpl: int, key: str, code: str) -> None:
        self.by_key[key] = (customer, tmpl, code)
        self.held[(customer, tmpl)] += 1
        self.issued[tmpl] += 1


step_items = st.lists(
    st.tuples(st.integers(0, CUSTOMERS), st.integers(0, 1), st.integers(0, KEYS - 1)), min_size=1, max_size=12
)
scenarios = st.tuples(
    st.lists(st.integers(1, 3), min_size=2, max_size=2),
    st.lists(st.one_of(st.none(), st.integers(1, 6)), min_size=2, max_size=2),
    st.lists(st.tuples(st.booleans(), step_items), min_size=1, max_size=4),
)


async def _single_outcome(
    stub: coupons_pb2_grpc.CouponServiceStub, tenant: TenantKey, item: Item
) -> tuple[str, str]:
    try:
        answer = await single(stub, tenant, *item)
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return "CUSTOMER_NOT_FOUND", ""
        reason = parse_status_details(error.trailing_metadata())[0]
        return str(reason), ""
    return ("replayed" if answer.replayed else "issued"), answer.coupon.code


async def test_batches_behave_as_sequential_single_issues(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    services: dict[str, ServiceServer],
    coupons: coupons_pb2_grpc.CouponServiceStub,
) -> None:
    loop = asyncio.get_running_loop()
    people = [await new_customer(api, tenant) for _ in range(CUSTOMERS)] + [str(uuid.uuid4())]

    async def run(scenario: tuple[list[int], list[int | None], list[tuple[bool, list[Any]]]]) -> None:
        limits, budgets, steps = scenario
        made = [
            await template(
                api,
                tenant,
                kind="no_threshold",
                discount_minor=100,
                per_customer_limit=limits[i],
                **({"budget": budgets[i]} if budgets[i] is not None else {}),
            )
            for i in range(2)
        ]
        prefix = uuid.uuid4().hex[:8]
        model = Model(limits, budgets)
        events_before = await issued_events(services, people[:CUSTOMERS])
        for as_batch, raw in steps:
            items = [(people[c], made[t]["template_id"], f"{prefix}:{k}") for c, t, k in raw]
            if as_batch:
                results = await batch(coupons, tenant, items)
                got = [(o, r.coupon.code) for o, r in zip(reasons(results), results, strict=True)]
            else:
                got = [await _single_outcome(coupons, tenant, item) for item in items]
            for (c, t, k), item, (outcome, code) in zip(raw, items, got, strict=True):
                expected, expected_code = model.expect(c, t, item[2])
                assert outcome == expected, (raw, k, outcome, expected)
                if expected_code is not None:
                    assert code == expected_code
                if outcome == "issued":
                    assert code not in {v[2] for v in model.by_key.values()}
                    model.record(c, t, item[2], code)
        for i in range(2):
            assert await issued_of(api, tenant, made[i]["template_id"]) == model.issued[i]
        assert await issued_events(services, people[:CUSTOMERS]) - events_before == len(model.by_key)

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(scenario=scenarios)
    def check(scenario: tuple[list[int], list[int | None], list[tuple[bool, list[Any]]]]) -> None:
        asyncio.run_coroutine_threadsafe(run(scenario), loop).result()

    await asyncio.to_thread(check)


async def test_bad_input_is_named_by_its_path(
    tenant: TenantKey, coupons: coupons_pb2_grpc.CouponServiceStub
) -> None:
    some = str(uuid.uuid4())
    cases = [
        ([(some, some, f"k{i}") for i in range(1_001)], ["items"]),
        (
            [(some, some, "k0"), (some, some, "k1"), (some, some, "k2"), (some, some, "")],
            ["items[3].idempotency_key"],
        ),
        ([(some, some, "x" * 201), (some, some, "ok")], ["items[0].idempotency_key"]),
    ]
    for items, fields in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await batch(coupons, tenant, items)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in parse_status_details(refused.value.trailing_metadata())[2]] == fields
    assert await batch(coupons, tenant, [(some, some, "x" * 200)]) != []
    assert await batch(coupons, tenant, []) == []


async def test_notify_issues_in_chunks_and_says_unavailable_when_loyalty_is_not_there(
    api: httpx.AsyncClient, tenant: TenantKey, services: dict[str, ServiceServer]
) -> None:
    flat = await template(api, tenant, kind="no_threshold", discount_minor=100, per_customer_limit=100)
    people = await some_customers(api, tenant, 11)
    t = uuid.UUID(flat["template_id"])
    items = [CouponRequest(uuid.UUID(people[i % 11]), t, f"journey:{i}:0") for i in range(1_001)]
    items.append(CouponRequest(uuid.uuid4(), t, "journey:nobody:0"))
    address = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    tenant_id = uuid.UUID(tenant.tenant_id)
    async with (
        grpc.aio.insecure_channel(address["profile"]) as profile,
        grpc.aio.insecure_channel(address["loyalty"]) as loyalty,
        grpc.aio.insecure_channel(address["scoring"]) as scoring,
    ):
        client = JourneyEffectsClient(profile, loyalty, scoring)
        first = await client.issue_coupons(tenant_id, items)
        again = await client.issue_coupons(tenant_id, items)
        last = items[1_000]
        one = await client.issue_coupon(tenant_id, last.customer_id, last.template_id, last.key)
    assert len(first) == 1_002
    assert all(o.code is not None and o.reason is None for o in first[:1_001])
    assert first[1_001] == CouponOutcome(None, "customer_not_found")
    assert again == first
    assert one.code == first[1_000].code
    assert await issued_of(api, tenant, flat["template_id"]) == 1_001

    async with grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}") as nowhere:
        with pytest.raises(Unavailable):
            await JourneyEffectsClient(nowhere, nowhere, nowhere).issue_coupons(tenant_id, items[:2])

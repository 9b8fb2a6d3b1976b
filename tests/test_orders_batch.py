"""Orders and refunds in batches through the gateway and the real profile service.

Each item is judged alone with the single calls' rules, known ids are duplicates (or rejected with
another body), racing batches that share orders and customers record each order once with one
order.paid, identities of a batch resolve as identify would, refunds of a batch never exceed an
order, and another tenant sees none of it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.profile.domain.batch_identities import BatchIdentityResolver
from services.profile.domain.identities import NormalizedIdentity
from tests.conftest import TenantKey
from tests.test_orders import count_rows, order_body, order_events


def _by(kind: str, value: str) -> list[dict[str, str]]:
    return [{"type": kind, "value": value}]


async def post_batch(api: httpx.AsyncClient, tenant: TenantKey, orders: list[Any]) -> dict[str, Any]:
    response = await api.post("/v1/orders/batch", json={"orders": orders}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def post_refunds(api: httpx.AsyncClient, tenant: TenantKey, refunds: list[Any]) -> dict[str, Any]:
    response = await api.post("/v1/refunds/batch", json={"refunds": refunds}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def rejected_fields(answer: dict[str, Any]) -> dict[int, set[str]]:
    return {r["index"]: {e["field"] for e in r["errors"]} for r in answer["rejected"]}


async def customers_of(urls: dict[str, str], tenant: TenantKey) -> int:
    connection = await asyncpg.connect(urls["profile"])
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM customers WHERE tenant_id = $1 AND merged_into IS NULL",
            uuid.UUID(tenant.tenant_id),
        )
    finally:
        await connection.close()
    return count


async def test_each_order_is_judged_alone_and_recorded_once(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    orders: list[Any] = [
        order_body("B-1", identities=_by("external_id", "m-1")),
        order_body("B-2", identities=_by("external_id", "m-2"), currency="XXX", amount_minor=-1),
        order_body("B-1", identities=_by("external_id", "m-1")),  # repeat, same body
        order_body("B-1", identities=_by("external_id", "m-1"), amount_minor=7),  # repeat, another body
        {"order_id": "B-5", "items": "nope"},  # wrong shape: rejected alone
        order_body("B-6", identities=_by("external_id", "m-1"), paid_at="2026-03-02T10:00:00Z"),
        order_body("B-7", customer_id=str(uuid.uuid4()), identities=None),  # nobody's
    ]
    del orders[6]["identities"]
    answer = await post_batch(api, tenant, orders)
    assert answer["results"] == [
        "accepted",
        "rejected",
        "duplicate",
        "rejected",
        "rejected",
        "accepted",
        "rejected",
    ]
    assert (answer["accepted"], answer["duplicates"]) == (2, 1)
    assert rejected_fields(answer) == {
        1: {"orders[1].currency", "orders[1].amount_minor"},
        3: {"orders[3].order_id"},
        4: {"orders[4].items", "orders[4].paid_at", "orders[4].currency", "orders[4].amount_minor"},
        6: {"orders[6].customer_id"},
    }
    events = await order_events(database_urls, tenant)
    assert sorted(e.order_paid.order_id for e in events) == ["B-1", "B-6"]
    assert events[0].customer_id == events[1].customer_id  # one customer for external id m-1
    single = (await api.get("/v1/orders/B-1", headers=tenant.headers)).json()
    assert [(i["sku"], i["category"], i["quantity"]) for i in single["items"]] == [
        ("TEA-1", "tea", 2),
        ("CUP-7", None, 1),
    ]
    assert single["customer_id"] == events[0].customer_id

    # The whole batch again (an import resumed after a crash): nothing new, no customer created.
    before = await customers_of(database_urls, tenant)
    again = await post_batch(api, tenant, orders)
    assert again["results"] == [
        "duplicate",
        "rejected",
        "duplicate",
        "rejected",
        "rejected",
        "duplicate",
        "rejected",
    ]
    assert await customers_of(database_urls, tenant) == before
    assert len(await order_events(database_urls, tenant)) == 2
    # A known id with another body names the conflict; the single call agrees with the batch.
    changed = await post_batch(api, tenant, [order_body("B-6", identities=_by("external_id", "m-1"))])
    assert changed["rejected"] == [
        {
            "index": 0,
            "errors": [
                {"field": "orders[0].order_id", "message": "was already recorded with a different body"}
            ],
        }
    ]
    single_repeat = await api.post("/v1/orders", json=orders[0], headers=tenant.headers)
    assert single_repeat.status_code == 200


async def test_the_call_as_a_whole_is_checked(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    for body, field in (
        ({"orders": []}, "orders"),
        ({"orders": [order_body(f"L-{i}") for i in range(501)]}, "orders"),
        ({"orders": "x"}, "orders"),
        ({"orders": [order_body()], "extra": 1}, "extra"),
    ):
        response = await api.post("/v1/orders/batch", json=body, headers=tenant.headers)
        assert response.status_code == 422, response.text
        assert field in {e["field"] for e in response.json()["errors"]}
    huge = {"orders": [order_body("H-1", coupon_code="x" * 2_000_000)]}
    assert (await api.post("/v1/orders/batch", json=huge, headers=tenant.headers)).status_code == 413
    assert (await api.post("/v1/orders/batch", json={"orders": [order_body()]})).status_code == 401


async def test_racing_batches_sharing_orders_and_customers_record_each_once(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    # 60 orders of 20 customers (by phone, by e-mail, by both), sent by 4 callers in different orders.
    orders = [
        order_body(
            f"R-{n:03d}",
            identities=[
                {"type": "phone", "value": f"1391000{n % 20:04d}"},
                *([{"type": "email", "value": f"c{n % 20}@race.example"}] if n % 20 < 10 else []),
            ],
        )
        for n in range(60)
    ]
    batches = [orders, orders[::-1], orders[30:] + orders[:30], orders[::2] + orders[1::2]]
    answers = await asyncio.gather(*(post_batch(api, tenant, batch) for batch in batches))
    assert sum(a["accepted"] for a in answers) == 60
    assert sum(a["duplicates"] for a in answers) == 180
    assert all(a["rejected"] == [] for a in answers)
    events = await order_events(database_urls, tenant)
    assert sorted(e.order_paid.order_id for e in events) == [f"R-{n:03d}" for n in range(60)]
    assert await count_rows(database_urls, tenant, "orders") == 60
    assert await customers_of(database_urls, tenant) == 20
    owners = {e.order_paid.order_id: e.customer_id for e in events}
    assert all(owners[f"R-{n:03d}"] == owners[f"R-{n % 20:03d}"] for n in range(60))


async def test_a_batch_resolves_identities_as_identify_would(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    phone, email = _by("phone", "13800000001"), _by("email", "known@example.cn")
    known = (
        await api.post("/v1/customers/identify", json={"identities": phone}, headers=tenant.headers)
    ).json()
    other = (
        await api.post("/v1/customers/identify", json={"identities": email}, headers=tenant.headers)
    ).json()
    orders = [
        order_body("I-1", identities=phone),  # known
        order_body("I-2", identities=phone + _by("app_user_id", "u-9")),  # known + new: attached
        # Two customers, both linked by verified identities: merged, the oldest survives.
        order_body("I-3", identities=[{**i, "verified": True} for i in phone + email]),
        order_body("I-4", identities=_by("app_user_id", "fresh-1")),  # fresh
        order_body("I-5", identities=_by("app_user_id", "fresh-2")),  # fresh, shared with the next
        order_body("I-6", identities=_by("app_user_id", "fresh-2") + _by("external_id", "x")),
    ]
    answer = await post_batch(api, tenant, orders)
    assert answer["accepted"] == 6, answer
    owner = {
        o: (await api.get(f"/v1/orders/{o}", headers=tenant.headers)).json()["customer_id"]
        for o in ("I-1", "I-2", "I-3", "I-4", "I-5", "I-6")
    }
    assert owner["I-1"] == owner["I-2"] == owner["I-3"] == known["customer_id"]
    merged = await api.get(f"/v1/customers/{other['customer_id']}", headers=tenant.headers)
    assert merged.json()["customer_id"] == known["customer_id"]
    assert owner["I-5"] == owner["I-6"] != owner["I-4"]
    for identities, customer in ((_by("app_user_id", "u-9"), "I-1"), (_by("external_id", "x"), "I-5")):
        found = await api.post(
            "/v1/customers/identify", json={"identities": identities}, headers=tenant.headers
        )
        assert found.json()["customer_id"] == owner[customer]
    created = [e for e in await order_events(database_urls, tenant)]
    assert len(created) == 6


async def test_another_tenant_sees_nothing_and_cannot_use_the_customers(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    answer = await post_batch(api, tenant, [order_body("T-1", identities=_by("external_id", "t"))])
    customer_id = (await api.get("/v1/orders/T-1", headers=tenant.headers)).json()["customer_id"]
    assert answer["accepted"] == 1
    assert (await api.get("/v1/orders/T-1", headers=other_tenant.headers)).status_code == 404
    foreign = order_body("T-2", customer_id=customer_id)
    del foreign["identities"]
    theirs = await post_batch(
        api, other_tenant, [foreign, order_body("T-1", identities=_by("external_id", "t"))]
    )
    assert theirs["results"] == ["rejected", "accepted"]  # the same order id is theirs to use
    assert rejected_fields(theirs) == {0: {"orders[0].customer_id"}}
    refunds = await post_refunds(
        api, other_tenant, [{"order_id": "T-2", "refund_id": "r", "amount_minor": 1}]
    )
    assert rejected_fields(refunds) == {0: {"refunds[0].order_id"}}


async def test_refunds_in_a_batch_never_exceed_the_order(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    await post_batch(api, tenant, [order_body("F-1"), order_body("F-2")])  # 25,800 each
    answer = await post_refunds(
        api,
        tenant,
        [
            {"order_id": "F-1", "refund_id": "a", "amount_minor": 20_000, "reason": "尺寸不符"},
            {"order_id": "F-1", "refund_id": "b", "amount_minor": 6_000},  # more than is left
            {"order_id": "F-1", "refund_id": "a", "amount_minor": 20_000, "reason": "尺寸不符"},  # repeat
            {"order_id": "F-1", "refund_id": "c", "amount_minor": 5_800},  # exactly what is left
            {"order_id": "F-2", "refund_id": "a", "amount_minor": 100, "currency": "USD"},
            {"order_id": "NOPE", "refund_id": "a", "amount_minor": 100},
            {"order_id": "F-2", "refund_id": "a", "amount_minor": 0},
        ],
    )
    assert answer["results"] == [
        "accepted",
        "rejected",
        "duplicate",
        "accepted",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert rejected_fields(answer) == {
        1: {"refunds[1].amount_minor"},
        4: {"refunds[4].currency"},
        5: {"refunds[5].order_id"},
        6: {"refunds[6].amount_minor"},
    }
    order = (await api.get("/v1/orders/F-1", headers=tenant.headers)).json()
    assert (order["status"], order["refunded_minor"], len(order["refunds"])) == ("refunded", 25_800, 2)
    refunded = [
        e.order_refunded for e in await order_events(database_urls, tenant) if e.type == "order.refunded"
    ]
    assert [(r.refund_id, r.fully_refunded) for r in refunded] == [("a", False), ("c", True)]
    again = await post_refunds(api, tenant, [{"order_id": "F-1", "refund_id": "a", "amount_minor": 1}])
    assert rejected_fields(again) == {0: {"refunds[0].refund_id"}}


refund_batches = st.lists(
    st.lists(st.integers(min_value=1, max_value=12_000), min_size=1, max_size=6), min_size=1, max_size=4
)


async def _race_refund_batches(api: httpx.AsyncClient, tenant: TenantKey, amounts: list[list[int]]) -> None:
    order_id = f"P-{uuid.uuid4().hex[:10]}"
    assert (await post_batch(api, tenant, [order_body(order_id)]))["accepted"] == 1
    batches = [
        [{"order_id": order_id, "refund_id": f"b{b}-{n}", "amount_minor": a} for n, a in enumerate(batch)]
        for b, batch in enumerate(amounts)
    ]
    # Each batch twice, all at once: retries and concurrency together.
    answers = await asyncio.gather(*(post_refunds(api, tenant, batch) for batch in batches + batches))
    order = (await api.get(f"/v1/orders/{order_id}", headers=tenant.headers)).json()
    recorded = {r["refund_id"]: r["amount_minor"] for r in order["refunds"]}
    assert order["refunded_minor"] == sum(recorded.values()) <= 25_800
    assert sum(a["accepted"] for a in answers) == len(recorded)
    every = {f"b{b}-{n}": a for b, batch in enumerate(amounts) for n, a in enumerate(batch)}
    # Refused only when too big: what is left only shrinks, so it was too big when judged too.
    assert all(every[r] > 25_800 - order["refunded_minor"] for r in every if r not in recorded)


async def test_racing_refund_batches_move_each_minor_unit_once(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    loop = asyncio.get_running_loop()

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(amounts=refund_batches)
    def check(amounts: list[list[int]]) -> None:
        asyncio.run_coroutine_threadsafe(_race_refund_batches(api, tenant, amounts), loop).result(timeout=60)

    await asyncio.to_thread(check)


def _identity(kind: str, value: str) -> NormalizedIdentity:
    return NormalizedIdentity(kind, value, value)


def test_sets_are_split_into_known_fresh_and_one_by_one() -> None:
    a, b, c, d, e = (_identity("external_id", v) for v in "abcde")
    one, two = uuid.uuid4(), uuid.uuid4()
    known, fresh, others = BatchIdentityResolver.classify(
        [
            frozenset({a}),
            frozenset({a, b}),
            frozenset({b}),
            frozenset({c}),
            frozenset({d, e}),
            frozenset({e}),
        ],
        {a: one, b: two},
    )
    assert known == {frozenset({a}): one, frozenset({b}): two}
    assert fresh == [frozenset({c})]
    assert set(others) == {frozenset({a, b}), frozenset({d, e}), frozenset({e})}


@pytest.mark.parametrize("path", ["/v1/orders/batch", "/v1/refunds/batch"])
async def test_batch_endpoints_are_in_the_openapi_document(api: httpx.AsyncClient, path: str) -> None:
    assert path in (await api.get("/openapi.json")).json()["paths"]

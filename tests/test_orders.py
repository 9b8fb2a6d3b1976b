"""Orders and refunds through the gateway and the real profile service on a real PostgreSQL.

Idempotency (by order id, by refund id), amounts that can never be over-refunded even under
concurrency, validation that names each field and writes nothing, events in the outbox, tenancy.
"""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from patron.events.v1 import envelope_pb2
from services.profile.domain.order_rules import MAX_REFUNDS_PER_ORDER, judge_refund, validate_refund
from services.profile.domain.orders import OrderCursor, OrderTerms, RefundRequest, order_status
from services.runtime.errors import Conflict, InvalidArgument
from tests.conftest import TenantKey

PHONE = {"type": "phone", "value": "13912345678"}


def order_body(order_id: str = "SO-1001", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "identities": [PHONE],
        "paid_at": "2026-03-01T10:15:00+08:00",
        "currency": "CNY",
        "amount_minor": 25_800,
        "items": [
            {
                "sku": "TEA-1",
                "category": "tea",
                "brand": "West Lake",
                "unit_price_minor": 12_900,
                "quantity": 2,
            },
            {"sku": "CUP-7", "unit_price_minor": 1_000, "quantity": 1},
        ],
        "coupon_code": "SPRING20",
        "channel": "mini_program",
    }
    body.update(overrides)
    return body


def fields_of(response: httpx.Response) -> set[str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return {error["field"] for error in response.json()["errors"]}


async def post_order(api: httpx.AsyncClient, tenant: TenantKey, body: dict[str, Any]) -> httpx.Response:
    return await api.post("/v1/orders", json=body, headers=tenant.headers)


async def refund(
    api: httpx.AsyncClient, tenant: TenantKey, order_id: str, refund_id: str, amount: float, **extra: Any
) -> httpx.Response:
    body = {"refund_id": refund_id, "amount_minor": amount, **extra}
    return await api.post(f"/v1/orders/{order_id}/refunds", json=body, headers=tenant.headers)


async def order_events(urls: dict[str, str], tenant: TenantKey) -> list[envelope_pb2.EventEnvelope]:
    """The tenant's order events in the profile outbox, in the order they were appended."""
    connection = await asyncpg.connect(urls["profile"])
    try:
        rows = await connection.fetch(
            "SELECT envelope FROM outbox WHERE tenant_id = $1 AND type LIKE 'order.%' ORDER BY id",
            uuid.UUID(tenant.tenant_id),
        )
    finally:
        await connection.close()
    return [envelope_pb2.EventEnvelope.FromString(row["envelope"]) for row in rows]


async def count_rows(urls: dict[str, str], tenant: TenantKey, table: str) -> int:
    connection = await asyncpg.connect(urls["profile"])
    try:
        count: int = await connection.fetchval(
            f"SELECT count(*) FROM {table} WHERE tenant_id = $1",  # noqa: S608 (a table name of ours)
            uuid.UUID(tenant.tenant_id),
        )
    finally:
        await connection.close()
    return count


# --- recording ---------------------------------------------------------------------------------


async def test_an_order_is_recorded_once_and_a_repeat_answers_200_with_it(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    first = await post_order(api, tenant, order_body())
    assert first.status_code == 201, first.text
    assert first.headers["location"] == "/v1/orders/SO-1001"
    order = first.json()
    assert order["status"] == "paid"
    assert (order["amount_minor"], order["refunded_minor"], order["remaining_minor"]) == (25_800, 0, 25_800)
    assert order["paid_at"].startswith("2026-03-01T02:15:00")
    assert order["items"][0] == {
        "sku": "TEA-1",
        "category": "tea",
        "brand": "West Lake",
        "unit_price_minor": 12_900,
        "quantity": 2,
    }
    assert order["items"][1]["category"] is None
    assert (order["coupon_code"], order["channel"], order["refunds"]) == ("SPRING20", "mini_program", [])

    again = await post_order(api, tenant, order_body())
    assert again.status_code == 200
    assert again.json() == order
    fetched = await api.get("/v1/orders/SO-1001", headers=tenant.headers)
    assert fetched.json() == order

    customer = await api.post("/v1/customers/identify", json={"identities": [PHONE]}, headers=tenant.headers)
    assert customer.json() == {
        "customer_id": order["customer_id"],
        "created": False,
        "merged_customer_ids": [],
        "unmerged_customer_ids": [],
    }

    events = await order_events(database_urls, tenant)
    assert [e.type for e in events] == ["order.paid"]
    paid = events[0].order_paid
    assert events[0].customer_id == order["customer_id"]
    assert (paid.order_id, paid.currency, paid.amount_minor) == ("SO-1001", "CNY", 25_800)
    assert (paid.coupon_code, paid.channel) == ("SPRING20", "mini_program")
    assert [(i.sku, i.category, i.quantity) for i in paid.items] == [("TEA-1", "tea", 2), ("CUP-7", "", 1)]
    assert "13912345678" not in events[0].SerializeToString().decode("utf-8", "replace")


async def test_an_order_for_a_known_customer_id(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    identified = await api.post(
        "/v1/customers/identify", json={"identities": [PHONE]}, headers=tenant.headers
    )
    customer_id = identified.json()["customer_id"]
    body = order_body(customer_id=customer_id)
    del body["identities"]
    response = await post_order(api, tenant, body)
    assert response.status_code == 201, response.text
    assert response.json()["customer_id"] == customer_id


async def test_the_same_order_id_with_another_body_is_a_conflict(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    assert (await post_order(api, tenant, order_body())).status_code == 201
    for changed in (
        {"amount_minor": 1},
        {"coupon_code": None},
        {"identities": [{"type": "email", "value": "a@b.cn"}]},
    ):
        response = await post_order(api, tenant, order_body(**changed))
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["order_id"] == "SO-1001"
        assert problem["reason"] == "ORDER_ID_REUSED"
        assert "SO-1001" in problem["detail"]
    # The same body written another way (another offset, the phone spelled differently) is the same.
    same = order_body(
        paid_at="2026-03-01T02:15:00Z", identities=[{"type": "phone", "value": "+86 139 1234 5678"}]
    )
    assert (await post_order(api, tenant, same)).status_code == 200
    assert len(await order_events(database_urls, tenant)) == 1


async def test_concurrent_identical_orders_record_one(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    body = order_body("SO-RACE", identities=[{"type": "app_user_id", "value": "race-user"}])
    responses = await asyncio.gather(*(post_order(api, tenant, body) for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["customer_id"] for r in responses}) == 1
    assert [e.type for e in await order_events(database_urls, tenant)] == ["order.paid"]
    assert await count_rows(database_urls, tenant, "orders") == 1
    assert await count_rows(database_urls, tenant, "order_items") == 2


# --- validation --------------------------------------------------------------------------------


async def test_every_rule_broken_is_named_and_nothing_is_written(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = order_body(
        "bad/id",
        paid_at=future,
        currency="QQQ",
        amount_minor=-1,
        coupon_code="  ",
        items=[
            {"sku": "A", "unit_price_minor": -5, "quantity": 1},
            {"sku": "B", "unit_price_minor": 100, "quantity": 0},
            {"sku": "", "brand": "x" * 101, "unit_price_minor": 100, "quantity": 10_001},
        ],
    )
    response = await post_order(api, tenant, body)
    assert response.status_code == 422
    assert fields_of(response) == {
        "order_id",
        "paid_at",
        "currency",
        "amount_minor",
        "coupon_code",
        "items[0].unit_price_minor",
        "items[1].quantity",
        "items[2].sku",
        "items[2].brand",
        "items[2].quantity",
    }
    assert await count_rows(database_urls, tenant, "orders") == 0
    assert await count_rows(database_urls, tenant, "customers") == 0


async def test_shape_errors_are_422_never_500(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    cases: list[tuple[dict[str, Any], set[str]]] = [
        (order_body(amount_minor=10.5), {"amount_minor"}),
        (order_body(amount_minor="100"), {"amount_minor"}),
        (order_body(amount_minor=2**70), {"amount_minor"}),
        (order_body(items=[]), {"items"}),
        (order_body(items=[{"sku": "A", "unit_price_minor": 1, "quantity": 1}] * 501), {"items"}),
        (order_body(paid_at="2026-03-01T10:15:00"), {"paid_at"}),
        (order_body(discount=5), {"discount"}),
        (
            order_body(currency="cny", items=[{"sku": "A", "unit_price_minor": 1, "quantity": 2**40}]),
            {"items[0].quantity"},
        ),
        (order_body(customer_id=str(uuid.uuid4())), {"customer_id"}),
        ({k: v for k, v in order_body().items() if k != "identities"}, {"customer_id"}),
        (order_body(identities=[{"type": "phone", "value": "12"}]), {"identities[0].value"}),
        (order_body(currency="XXX"), {"currency"}),
        (
            order_body(channel="app\u0000", items=[{"sku": "A\u0007", "unit_price_minor": 1, "quantity": 1}]),
            {"channel", "items[0].sku"},
        ),
    ]
    for body, expected in cases:
        response = await post_order(api, tenant, body)
        assert response.status_code == 422, (body, response.text)
        assert fields_of(response) == expected, body
    json_headers = {**tenant.headers, "content-type": "application/json"}
    broken = await api.post("/v1/orders", content=b"{not json", headers=json_headers)
    assert broken.status_code == 422
    # A lone surrogate is valid JSON but no protobuf string: named, not a 500.
    raw = json.dumps(order_body(identities=[{"type": "app_user_id", "value": "x"}]))
    for field, spelled in (
        ("items[0].sku", '"sku": "\\ud800"'),
        ("identities[0].value", '"value": "\\udfff"'),
    ):
        original = '"sku": "TEA-1"' if field.startswith("items") else '"value": "x"'
        response = await api.post("/v1/orders", content=raw.replace(original, spelled), headers=json_headers)
        assert response.status_code == 422, response.text
        assert fields_of(response) == {field}


async def test_an_unknown_or_foreign_customer_id_is_named(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    theirs = await api.post(
        "/v1/customers/identify", json={"identities": [PHONE]}, headers=other_tenant.headers
    )
    for customer_id in (str(uuid.uuid4()), theirs.json()["customer_id"], "not-a-uuid"):
        body = {k: v for k, v in order_body(customer_id=customer_id).items() if k != "identities"}
        response = await post_order(api, tenant, body)
        assert response.status_code == 422, response.text
        assert fields_of(response) == {"customer_id"}


# --- refunds -----------------------------------------------------------------------------------


async def test_partial_then_full_refund(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    await post_order(api, tenant, order_body())
    first = await refund(api, tenant, "SO-1001", "RF-1", 12_900, reason="尺寸不符")
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["refund_id"], body["order_id"], body["amount_minor"], body["currency"]) == (
        "RF-1",
        "SO-1001",
        12_900,
        "CNY",
    )
    assert (body["reason"], body["order_status"], body["remaining_minor"]) == (
        "尺寸不符",
        "partially_refunded",
        12_900,
    )

    second = await refund(api, tenant, "SO-1001", "RF-2", 12_900, currency="CNY")
    assert second.status_code == 201
    assert (second.json()["order_status"], second.json()["remaining_minor"]) == ("refunded", 0)

    order = (await api.get("/v1/orders/SO-1001", headers=tenant.headers)).json()
    assert (order["status"], order["refunded_minor"], order["remaining_minor"]) == ("refunded", 25_800, 0)
    assert [(r["refund_id"], r["reason"]) for r in order["refunds"]] == [("RF-1", "尺寸不符"), ("RF-2", None)]

    events = await order_events(database_urls, tenant)
    assert [e.type for e in events] == ["order.paid", "order.refunded", "order.refunded"]
    refunded = [e.order_refunded for e in events[1:]]
    assert [(r.refund_id, r.amount_minor, r.currency, r.fully_refunded) for r in refunded] == [
        ("RF-1", 12_900, "CNY", False),
        ("RF-2", 12_900, "CNY", True),
    ]
    assert refunded[0].reason == "尺寸不符"
    assert {e.customer_id for e in events} == {order["customer_id"]}

    more = await refund(api, tenant, "SO-1001", "RF-3", 1)
    assert more.status_code == 409
    assert (more.json()["remaining_minor"], more.json()["reason"]) == (0, "REFUND_EXCEEDS_REMAINING")


async def test_a_refund_over_what_is_left_is_409_with_remaining(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    await post_order(api, tenant, order_body())
    await refund(api, tenant, "SO-1001", "RF-1", 800)
    response = await refund(api, tenant, "SO-1001", "RF-2", 25_001)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["remaining_minor"] == 25_000
    assert response.json()["order_id"] == "SO-1001"
    order = (await api.get("/v1/orders/SO-1001", headers=tenant.headers)).json()
    assert (order["refunded_minor"], len(order["refunds"])) == (800, 1)


async def test_a_refund_is_recorded_once_per_refund_id(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    await post_order(api, tenant, order_body())
    first = await refund(api, tenant, "SO-1001", "RF-1", 500, reason="damaged")
    again = await refund(api, tenant, "SO-1001", "RF-1", 500, reason="damaged")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = await refund(api, tenant, "SO-1001", "RF-1", 600, reason="damaged")
    assert other.status_code == 409
    assert (other.json()["reason"], other.json()["refund_id"]) == ("REFUND_ID_REUSED", "RF-1")
    concurrent = await asyncio.gather(*(refund(api, tenant, "SO-1001", "RF-2", 700) for _ in range(10)))
    assert sorted(r.status_code for r in concurrent) == [200] * 9 + [201]
    order = (await api.get("/v1/orders/SO-1001", headers=tenant.headers)).json()
    assert order["refunded_minor"] == 1_200
    assert [e.type for e in await order_events(database_urls, tenant)].count("order.refunded") == 2


async def test_concurrent_refunds_never_exceed_the_amount(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    await post_order(api, tenant, order_body(amount_minor=1_000))
    responses = await asyncio.gather(*(refund(api, tenant, "SO-1001", f"RF-{i}", 300) for i in range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [409] * 7
    assert {r.json()["remaining_minor"] for r in responses if r.status_code == 409} == {100}
    order = (await api.get("/v1/orders/SO-1001", headers=tenant.headers)).json()
    assert (order["refunded_minor"], order["status"], len(order["refunds"])) == (900, "partially_refunded", 3)
    assert [e.type for e in await order_events(database_urls, tenant)].count("order.refunded") == 3


async def test_refund_rules_against_the_order(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    await post_order(api, tenant, order_body())
    wrong = await refund(
        api, tenant, "SO-1001", "RF-1", 100, currency="USD", refunded_at="2026-02-01T00:00:00Z"
    )
    assert wrong.status_code == 422
    assert fields_of(wrong) == {"currency", "refunded_at"}
    bad = await refund(api, tenant, "SO-1001", "bad id", 0, reason="")
    assert fields_of(bad) == {"refund_id", "amount_minor", "reason"}
    fractional = await refund(api, tenant, "SO-1001", "RF-1", 1.5)
    assert fields_of(fractional) == {"amount_minor"}
    order = (await api.get("/v1/orders/SO-1001", headers=tenant.headers)).json()
    assert order["refunds"] == []


async def test_orders_of_another_tenant_are_not_found(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    await post_order(api, tenant, order_body())
    assert (await api.get("/v1/orders/SO-1001", headers=other_tenant.headers)).status_code == 404
    assert (await refund(api, other_tenant, "SO-1001", "RF-1", 100)).status_code == 404
    assert (await refund(api, tenant, "SO-404", "RF-1", 100)).status_code == 404
    assert (await api.get("/v1/orders/SO-404", headers=tenant.headers)).status_code == 404
    assert (await api.get("/v1/orders/" + "x" * 300, headers=tenant.headers)).status_code == 404
    # The other tenant may use the same order id for its own order.
    assert (await post_order(api, other_tenant, order_body())).status_code == 201


# --- listing -----------------------------------------------------------------------------------


async def test_a_customers_orders_page_newest_first(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    ids = []
    for day in range(1, 6):
        response = await post_order(api, tenant, order_body(f"SO-{day}", paid_at=f"2026-01-0{day}T08:00:00Z"))
        ids.append(response.json()["order_id"])
    # Two orders paid at the same moment are still paged without loss or repeat.
    await post_order(api, tenant, order_body("SO-3b", paid_at="2026-01-03T08:00:00Z"))
    customer_id = (await api.get("/v1/orders/SO-1", headers=tenant.headers)).json()["customer_id"]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await api.get(f"/v1/customers/{customer_id}/orders", params=params, headers=tenant.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        seen.extend(o["order_id"] for o in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["SO-5", "SO-4", "SO-3b", "SO-3", "SO-2", "SO-1"]
    assert pages == 3
    full = await api.get(f"/v1/customers/{customer_id}/orders", headers=tenant.headers)
    assert len(full.json()["items"]) == 6
    assert full.json()["items"][0]["items"][0]["sku"] == "TEA-1"

    url = f"/v1/customers/{customer_id}/orders"
    assert (await api.get(url, params={"cursor": "garbage"}, headers=tenant.headers)).status_code == 422
    assert (await api.get(url, params={"limit": 501}, headers=tenant.headers)).status_code == 422
    assert (await api.get(url, headers=other_tenant.headers)).status_code == 404
    unknown = f"/v1/customers/{uuid.uuid4()}/orders"
    assert (await api.get(unknown, headers=tenant.headers)).status_code == 404
    fresh = await api.post(
        "/v1/customers/identify",
        json={"identities": [{"type": "email", "value": "n@o.cn"}]},
        headers=tenant.headers,
    )
    empty = await api.get(f"/v1/customers/{fresh.json()['customer_id']}/orders", headers=tenant.headers)
    assert empty.json() == {"items": [], "next_cursor": None}


async def test_a_free_order_is_recorded_and_cannot_be_refunded(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    response = await post_order(
        api, tenant, order_body(amount_minor=0, items=[{"sku": "GIFT", "unit_price_minor": 0, "quantity": 1}])
    )
    assert response.status_code == 201
    assert (await refund(api, tenant, "SO-1001", "RF-1", 1)).status_code == 409


async def test_a_page_ends_early_when_its_orders_hold_many_items(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    items = [{"sku": f"SKU-{n}", "unit_price_minor": 100, "quantity": 1} for n in range(500)]
    for day in range(1, 12):
        response = await post_order(
            api, tenant, order_body(f"BIG-{day:02}", paid_at=f"2026-01-{day:02}T08:00:00Z", items=items)
        )
        assert response.status_code == 201, response.text
    customer_id = (await api.get("/v1/orders/BIG-01", headers=tenant.headers)).json()["customer_id"]
    url = f"/v1/customers/{customer_id}/orders"
    first = (await api.get(url, params={"limit": 500}, headers=tenant.headers)).json()
    assert len(first["items"]) == 10  # 5,000 items and refunds at most per page
    assert first["next_cursor"] is not None
    rest = (await api.get(url, params={"cursor": first["next_cursor"]}, headers=tenant.headers)).json()
    assert [o["order_id"] for o in rest["items"]] == ["BIG-01"]
    assert rest["next_cursor"] is None


# --- merges, erasure, export -------------------------------------------------------------------


async def test_orders_follow_a_merge_and_outlive_an_erasure_anonymous(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    email = {"type": "email", "value": "li@example.cn"}
    kept = (await post_order(api, tenant, order_body("SO-A"))).json()["customer_id"]
    merged = (await post_order(api, tenant, order_body("SO-B", identities=[email]))).json()["customer_id"]
    await refund(api, tenant, "SO-B", "RF-1", 100, reason="尺寸不符")
    response = await api.post(
        f"/v1/customers/{kept}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    assert (await api.get("/v1/orders/SO-B", headers=tenant.headers)).json()["customer_id"] == kept
    for customer_id in (kept, merged):  # a merged-away id lists the survivor's orders
        page = await api.get(f"/v1/customers/{customer_id}/orders", headers=tenant.headers)
        assert {o["order_id"] for o in page.json()["items"]} == {"SO-A", "SO-B"}
    # An order sent for the merged-away id belongs to the survivor.
    late = {k: v for k, v in order_body("SO-C", customer_id=merged).items() if k != "identities"}
    assert (await post_order(api, tenant, late)).json()["customer_id"] == kept

    exported = (await api.get(f"/v1/customers/{kept}/export", headers=tenant.headers)).json()
    assert [o["order_id"] for o in exported["orders"]] == ["SO-A", "SO-B", "SO-C"]
    assert len(exported["order_items"]) == 6
    assert [(r["refund_id"], r["reason"]) for r in exported["order_refunds"]] == [("RF-1", "尺寸不符")]

    assert (await api.delete(f"/v1/customers/{kept}", headers=tenant.headers)).status_code == 200
    # Sales records stay, with no personal data: the refund reason (free text) is cleared.
    kept_order = (await api.get("/v1/orders/SO-B", headers=tenant.headers)).json()
    assert kept_order["customer_id"] == kept
    assert all(refund["reason"] in (None, "") for refund in kept_order["refunds"])
    assert (await api.get(f"/v1/customers/{kept}/orders", headers=tenant.headers)).status_code == 404
    assert await count_rows(database_urls, tenant, "orders") == 3
    gone = {k: v for k, v in order_body("SO-D", customer_id=kept).items() if k != "identities"}
    assert fields_of(await post_order(api, tenant, gone)) == {"customer_id"}


# --- rules without the database ----------------------------------------------------------------


def _terms(**overrides: Any) -> OrderTerms:
    values: dict[str, Any] = {
        "currency": "CNY",
        "paid_at": datetime(2026, 3, 1, tzinfo=UTC),
        "amount_minor": 1_000,
        "refunded_minor": 0,
        "refund_count": 0,
    }
    values.update(overrides)
    return OrderTerms(**values)


def test_an_order_holds_at_most_so_many_refunds() -> None:
    refund_rule = validate_refund(RefundRequest("SO-1", "RF-1", 1), datetime(2026, 3, 2, tzinfo=UTC))
    judge_refund(refund_rule, _terms(refund_count=MAX_REFUNDS_PER_ORDER - 1))
    with pytest.raises(Conflict) as caught:
        judge_refund(refund_rule, _terms(refund_count=MAX_REFUNDS_PER_ORDER))
    assert caught.value.reason == "TOO_MANY_REFUNDS"
    with pytest.raises(Conflict) as exceeded:
        judge_refund(refund_rule, _terms(refunded_minor=1_000))
    assert exceeded.value.metadata["remaining_minor"] == "0"


def test_status_follows_the_amounts() -> None:
    assert [order_status(1_000, r) for r in (0, 1, 999, 1_000)] == [
        "paid",
        "partially_refunded",
        "partially_refunded",
        "refunded",
    ]


def test_a_cursor_round_trips_and_garbage_names_the_field() -> None:
    cursor = OrderCursor(datetime(2026, 1, 3, 8, 0, 0, 123_456, tzinfo=UTC), "SO-3:b")
    assert OrderCursor.decode(cursor.encode()) == cursor
    for garbage in ("", "!!!", "W10", "WyJ4IiwgMV0", "eyJhIjogMX0"):
        with pytest.raises(InvalidArgument) as caught:
            OrderCursor.decode(garbage)
        assert [v.field for v in caught.value.violations] == ["cursor"]

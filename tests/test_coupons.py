"""Coupons through the gateway and the real services: each kind's discount, validity, limits and
budget under concurrency, redemption exactly once, idempotent issue, points exchange as one
transaction, events, tenancy and 422s."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import sqlalchemy as sa

from patron.loyalty.v1 import coupons_pb2, coupons_pb2_grpc
from services.loyalty.store.tables import outbox
from services.runtime.server import ServiceServer
from services.runtime.tenancy import TENANT_METADATA_KEY
from tests.conftest import TenantKey
from tests.test_loyalty_api import new_customer, pay, wait_for_balance


async def template(api: httpx.AsyncClient, tenant: TenantKey, **fields: Any) -> dict[str, Any]:
    body = {"valid_days": 30, **fields}
    response = await api.post("/v1/coupon-templates", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def issue(
    api: httpx.AsyncClient, tenant: TenantKey, customer: str, template_id: str, key: str | None = None
) -> httpx.Response:
    headers = {**tenant.headers, **({"Idempotency-Key": key} if key else {})}
    return await api.post(
        f"/v1/customers/{customer}/coupons", json={"template_id": template_id}, headers=headers
    )


async def issued_code(api: httpx.AsyncClient, tenant: TenantKey, customer: str, template_id: str) -> str:
    response = await issue(api, tenant, customer, template_id)
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    return code


async def redeem(
    api: httpx.AsyncClient, tenant: TenantKey, code: str, amount: int, order_id: str | None = None
) -> httpx.Response:
    body = {"order_id": order_id or f"SO-{uuid.uuid4().hex[:10]}", "amount_minor": amount}
    return await api.post(f"/v1/coupons/{code}/redeem", json=body, headers=tenant.headers)


def reason(response: httpx.Response) -> str:
    assert response.status_code == 409, response.text
    value: str = response.json()["reason"]
    return value


async def test_each_kind_gives_its_discount(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = await new_customer(api, tenant)
    threshold = await template(api, tenant, kind="threshold", threshold_minor=20_000, discount_minor=5_000)
    percent = await template(
        api, tenant, kind="percent", percent_off=20, max_discount_minor=3_000, per_customer_limit=2
    )
    flat = await template(api, tenant, kind="no_threshold", discount_minor=500)

    code = await issued_code(api, tenant, customer, threshold["template_id"])
    short = await redeem(api, tenant, code, 19_999)
    assert reason(short) == "THRESHOLD_NOT_MET"
    assert short.json()["threshold_minor"] == 20_000
    done = await redeem(api, tenant, code, 20_000, order_id="SO-T1")
    assert done.status_code == 200, done.text
    assert done.json()["discount_minor"] == 5_000
    assert done.json()["payable_minor"] == 15_000
    assert done.json()["currency"] == "CNY"
    assert done.json()["coupon"]["status"] == "redeemed"

    small = await issued_code(api, tenant, customer, percent["template_id"])
    capped = await issued_code(api, tenant, customer, percent["template_id"])
    assert (await redeem(api, tenant, small, 10_001)).json()["discount_minor"] == 2_000  # rounded down
    assert (await redeem(api, tenant, capped, 50_000)).json()["discount_minor"] == 3_000  # the cap
    tiny = await issued_code(api, tenant, customer, flat["template_id"])
    assert (await redeem(api, tenant, tiny, 300)).json()["discount_minor"] == 300  # never above the order


async def test_first_order_coupons_need_a_customer_without_orders(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    first = await template(api, tenant, kind="first_order", discount_minor=1_000, per_customer_limit=2)
    newcomer, regular = await new_customer(api, tenant), await new_customer(api, tenant)
    await pay(api, tenant, regular, 10_000)
    await wait_for_balance(api, tenant, regular, 100)  # the consumer has recorded the order
    refused = await redeem(api, tenant, await issued_code(api, tenant, regular, first["template_id"]), 5_000)
    assert reason(refused) == "NOT_FIRST_ORDER"
    accepted = await redeem(
        api, tenant, await issued_code(api, tenant, newcomer, first["template_id"]), 5_000
    )
    assert accepted.json()["discount_minor"] == 1_000


async def test_validity_windows(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = await new_customer(api, tenant)
    now = datetime.now(UTC)
    later = await template(
        api,
        tenant,
        kind="no_threshold",
        discount_minor=100,
        valid_days=None,
        valid_from=(now + timedelta(days=1)).isoformat(),
        valid_until=(now + timedelta(days=2)).isoformat(),
    )
    code = await issued_code(api, tenant, customer, later["template_id"])
    assert reason(await redeem(api, tenant, code, 1_000)) == "COUPON_NOT_YET_VALID"
    brief = await template(
        api,
        tenant,
        kind="no_threshold",
        discount_minor=100,
        valid_days=None,
        valid_from=(now - timedelta(hours=1)).isoformat(),
        valid_until=(now + timedelta(seconds=1.5)).isoformat(),
    )
    code = await issued_code(api, tenant, customer, brief["template_id"])
    await asyncio.sleep(1.6)
    assert reason(await redeem(api, tenant, code, 1_000)) == "COUPON_EXPIRED"
    assert reason(await issue(api, tenant, customer, brief["template_id"])) == "TEMPLATE_EXPIRED"
    listed = await api.get(f"/v1/customers/{customer}/coupons?status=expired", headers=tenant.headers)
    assert [c["code"] for c in listed.json()["items"]] == [code]
    pending = await api.get(f"/v1/customers/{customer}/coupons?status=not_yet_valid", headers=tenant.headers)
    assert len(pending.json()["items"]) == 1


async def test_budget_holds_under_concurrent_issues(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    budgeted = await template(
        api, tenant, kind="no_threshold", discount_minor=100, per_customer_limit=50, budget=10
    )
    customers = [await new_customer(api, tenant) for _ in range(5)]
    answers = await asyncio.gather(
        *(issue(api, tenant, customers[i % 5], budgeted["template_id"]) for i in range(50))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 10
    assert {reason(a) for a in answers if a.status_code != 201} == {"BUDGET_EXHAUSTED"}
    shown = await api.get(f"/v1/coupon-templates/{budgeted['template_id']}", headers=tenant.headers)
    assert shown.json()["issued"] == 10
    assert shown.json()["remaining_budget"] == 0


async def test_per_customer_limit_holds_under_concurrent_issues(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    limited = await template(api, tenant, kind="no_threshold", discount_minor=100, per_customer_limit=2)
    customer = await new_customer(api, tenant)
    answers = await asyncio.gather(*(issue(api, tenant, customer, limited["template_id"]) for _ in range(12)))
    assert sum(a.status_code == 201 for a in answers) == 2
    refused = [a for a in answers if a.status_code != 201]
    assert {reason(a) for a in refused} == {"PER_CUSTOMER_LIMIT_REACHED"}
    assert refused[0].json()["per_customer_limit"] == 2  # issue 18 item 8: metadata numbers are numbers
    listed = await api.get(f"/v1/customers/{customer}/coupons?status=available", headers=tenant.headers)
    assert len(listed.json()["items"]) == 2


async def test_a_coupon_is_redeemed_exactly_once_under_concurrency(
    api: httpx.AsyncClient, tenant: TenantKey, services: dict[str, ServiceServer]
) -> None:
    flat = await template(api, tenant, kind="no_threshold", discount_minor=700)
    customer = await new_customer(api, tenant)
    code = await issued_code(api, tenant, customer, flat["template_id"])
    answers = await asyncio.gather(*(redeem(api, tenant, code, 10_000) for _ in range(20)))
    assert sum(a.status_code == 200 for a in answers) == 1
    assert {reason(a) for a in answers if a.status_code != 200} == {"COUPON_REDEEMED"}
    shown = (await api.get(f"/v1/coupon-templates/{flat['template_id']}", headers=tenant.headers)).json()
    assert (shown["issued"], shown["redeemed"], shown["redemption_rate"]) == (1, 1, 1.0)
    async with services["loyalty"].database.read() as connection:
        types = (
            await connection.execute(
                sa.select(outbox.c.type).where(
                    outbox.c.customer_id == uuid.UUID(customer), outbox.c.type.like("coupon.%")
                )
            )
        ).scalars()
        assert sorted(types) == ["coupon.issued", "coupon.redeemed"]


async def test_issue_is_idempotent_at_the_gateway_and_in_the_service(
    api: httpx.AsyncClient, tenant: TenantKey, services: dict[str, ServiceServer]
) -> None:
    flat = await template(api, tenant, kind="no_threshold", discount_minor=100, per_customer_limit=5)
    customer = await new_customer(api, tenant)
    first = await issue(api, tenant, customer, flat["template_id"], key="issue-once")
    again = await issue(api, tenant, customer, flat["template_id"], key="issue-once")
    assert first.status_code == again.status_code == 201
    assert first.json()["code"] == again.json()["code"]
    # Past the gateway's replay (its record lost, say), the key still reaches the service.
    request = coupons_pb2.IssueCouponRequest(
        customer_id=customer, template_id=flat["template_id"], idempotency_key="direct-key"
    )
    metadata = ((TENANT_METADATA_KEY, tenant.tenant_id),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{services['loyalty'].bound_port}") as channel:
        stub = coupons_pb2_grpc.CouponServiceStub(channel)
        one, two = [await stub.IssueCoupon(request, metadata=metadata, timeout=5) for _ in range(2)]
    assert one.coupon.code == two.coupon.code
    assert (one.replayed, two.replayed) == (False, True)
    shown = (await api.get(f"/v1/coupon-templates/{flat['template_id']}", headers=tenant.headers)).json()
    assert shown["issued"] == 2


async def credit(api: httpx.AsyncClient, tenant: TenantKey, customer: str, points: int) -> None:
    response = await api.post(
        f"/v1/customers/{customer}/points/adjustments",
        json={"points": points, "reason": "welcome"},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text


async def exchange(
    api: httpx.AsyncClient, tenant: TenantKey, customer: str, template_id: str
) -> httpx.Response:
    return await api.post(
        f"/v1/customers/{customer}/coupons/exchange",
        json={"template_id": template_id},
        headers=tenant.headers,
    )


async def test_exchange_is_one_transaction_with_the_points(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    priced = await template(
        api, tenant, kind="no_threshold", discount_minor=500, points_price=100, per_customer_limit=5
    )
    customer = await new_customer(api, tenant)
    poor = await exchange(api, tenant, customer, priced["template_id"])
    assert reason(poor) == "INSUFFICIENT_POINTS"
    assert poor.json()["balance"] == 0
    assert (await api.get(f"/v1/customers/{customer}/coupons", headers=tenant.headers)).json()["items"] == []
    await credit(api, tenant, customer, 150)
    bought = await exchange(api, tenant, customer, priced["template_id"])
    assert bought.status_code == 201, bought.text
    assert (bought.json()["points_spent"], bought.json()["balance"]) == (100, 50)
    assert bought.json()["coupon"]["source"] == "points_exchange"
    assert reason(await exchange(api, tenant, customer, priced["template_id"])) == "INSUFFICIENT_POINTS"
    shown = (await api.get(f"/v1/coupon-templates/{priced['template_id']}", headers=tenant.headers)).json()
    assert shown["issued"] == 1

    scarce = await template(api, tenant, kind="no_threshold", discount_minor=500, points_price=10, budget=1)
    rich = await new_customer(api, tenant)
    await credit(api, tenant, rich, 100)
    assert (await exchange(api, tenant, customer, scarce["template_id"])).status_code == 201
    assert reason(await exchange(api, tenant, rich, scarce["template_id"])) == "BUDGET_EXHAUSTED"
    await wait_for_balance(api, tenant, rich, 100)  # nothing was spent
    not_for_sale = await template(api, tenant, kind="no_threshold", discount_minor=500)
    assert reason(await exchange(api, tenant, rich, not_for_sale["template_id"])) == "NOT_EXCHANGEABLE"


async def test_another_tenants_key_sees_nothing(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    flat = await template(api, tenant, kind="no_threshold", discount_minor=100)
    customer = await new_customer(api, tenant)
    code = await issued_code(api, tenant, customer, flat["template_id"])
    theirs = await new_customer(api, other_tenant)
    assert (
        await api.get(f"/v1/coupon-templates/{flat['template_id']}", headers=other_tenant.headers)
    ).status_code == 404
    assert (await redeem(api, other_tenant, code, 1_000)).status_code == 404
    assert (
        await api.get(f"/v1/customers/{customer}/coupons", headers=other_tenant.headers)
    ).status_code == 404
    assert (await issue(api, other_tenant, customer, flat["template_id"])).status_code == 404
    wrong_template = await issue(api, other_tenant, theirs, flat["template_id"])
    assert wrong_template.status_code == 422
    assert wrong_template.json()["errors"][0]["field"] == "template_id"
    listing = await api.get("/v1/coupon-templates", headers=other_tenant.headers)
    assert flat["template_id"] not in {t["template_id"] for t in listing.json()["items"]}
    assert (await redeem(api, tenant, code, 1_000)).status_code == 200  # still the owner's to use


def fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {e["field"] for e in response.json()["errors"]}


async def test_bad_input_answers_422_naming_the_fields(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    post = api.post
    url = "/v1/coupon-templates"
    h = tenant.headers
    assert fields(
        await post(
            url, json={"kind": "percent", "percent_off": 10, "discount_minor": 5, "valid_days": 3}, headers=h
        )
    ) == {"discount_minor"}
    assert fields(
        await post(url, json={"kind": "threshold", "discount_minor": 5, "valid_days": 3}, headers=h)
    ) == {"threshold_minor"}
    assert fields(
        await post(
            url,
            json={"kind": "threshold", "threshold_minor": 5, "discount_minor": 9, "valid_days": 3},
            headers=h,
        )
    ) == {"discount_minor"}
    assert fields(
        await post(url, json={"kind": "percent", "percent_off": 100, "valid_days": 0}, headers=h)
    ) == {"percent_off", "valid_days"}
    both = {
        "kind": "no_threshold",
        "discount_minor": 5,
        "valid_days": 3,
        "valid_from": "2030-01-01T00:00:00Z",
        "valid_until": "2030-02-01T00:00:00Z",
    }
    assert fields(await post(url, json=both, headers=h)) == {"valid_days"}
    past = {
        "kind": "no_threshold",
        "discount_minor": 5,
        "valid_from": "2020-01-01T00:00:00Z",
        "valid_until": "2020-02-01T00:00:00Z",
    }
    assert fields(await post(url, json=past, headers=h)) == {"valid_until"}
    assert fields(await post(url, json={"kind": "coupon", "valid_days": 3}, headers=h)) == {"kind"}
    assert fields(
        await post(
            url,
            json={"kind": "no_threshold", "discount_minor": 5, "valid_days": 3, "budget": 0, "colour": "red"},
            headers=h,
        )
    ) == {"colour"}
    assert fields(
        await post(
            url, json={"kind": "no_threshold", "discount_minor": 5, "valid_days": 3, "budget": 0}, headers=h
        )
    ) == {"budget"}
    flat = await template(api, tenant, kind="no_threshold", discount_minor=100)
    customer = await new_customer(api, tenant)
    code = await issued_code(api, tenant, customer, flat["template_id"])
    bad_redeem = await post(f"/v1/coupons/{code}/redeem", json={"order_id": "", "amount_minor": 0}, headers=h)
    assert fields(bad_redeem) == {"order_id", "amount_minor"}
    assert fields(
        await post(f"/v1/coupons/{code}/redeem", json={"order_id": "A", "amount_minor": 1.5}, headers=h)
    ) == {"amount_minor"}
    assert fields(await api.get(f"/v1/customers/{customer}/coupons?status=lost", headers=h)) == {"status"}
    assert fields(await issue(api, tenant, customer, "not-a-template")) == {"template_id"}
    assert (await redeem(api, tenant, "NOSUCHCODE", 1_000)).status_code == 404
    assert (await redeem(api, tenant, code, 1_000)).status_code == 200  # the 422s wrote nothing

"""Consent through the gateway: per channel and purpose, history kept, consent.changed once per change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from patron.events.v1 import envelope_pb2
from tests.conftest import TenantKey
from tests.test_tags import fields_of, new_customer

Json = dict[str, Any]


async def set_consent(
    api: httpx.AsyncClient, tenant: TenantKey, customer: str, **body: Any
) -> httpx.Response:
    return await api.put(f"/v1/customers/{customer}/consents", json=body, headers=tenant.headers)


@pytest.fixture
async def profile_db(database_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_urls["profile"])
    yield connection
    await connection.close()


async def consent_events(db: asyncpg.Connection, customer_id: str) -> list[envelope_pb2.EventEnvelope]:
    rows = await db.fetch(
        "SELECT envelope FROM outbox WHERE type = 'consent.changed' AND customer_id = $1 ORDER BY id",
        uuid.UUID(customer_id),
    )
    return [envelope_pb2.EventEnvelope.FromString(row["envelope"]) for row in rows]


async def history(api: httpx.AsyncClient, tenant: TenantKey, customer: str, **params: Any) -> Json:
    response = await api.get(
        f"/v1/customers/{customer}/consents/history", params=params, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    page: Json = response.json()
    return page


async def test_consent_is_recorded_per_channel_and_purpose(
    api: httpx.AsyncClient, tenant: TenantKey, profile_db: asyncpg.Connection
) -> None:
    customer = await new_customer(api, tenant)
    response = await set_consent(
        api, tenant, customer, channel="email", purpose="marketing", granted=True, source="checkout_form"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["channel"], body["purpose"], body["granted"], body["source"], body["changed"]) == (
        "email",
        "marketing",
        True,
        "checkout_form",
        True,
    )
    assert body["changed_at"] is not None

    current = (await api.get(f"/v1/customers/{customer}/consents", headers=tenant.headers)).json()
    assert current["next_cursor"] is None
    states = {(c["channel"], c["purpose"]): c["granted"] for c in current["items"]}
    assert len(states) == 8
    assert states.pop(("email", "marketing")) is True
    assert set(states.values()) == {None}

    without_source = await set_consent(api, tenant, customer, channel="sms", purpose="service", granted=False)
    assert without_source.json()["source"] == "api"

    events = await consent_events(profile_db, customer)
    assert [
        (e.consent_changed.channel, e.consent_changed.granted, e.consent_changed.source) for e in events
    ] == [
        ("email", True, "checkout_form"),
        ("sms", False, "api"),
    ]
    assert {e.customer_id for e in events} == {customer}
    assert {e.tenant_id for e in events} == {tenant.tenant_id}


async def test_the_same_state_again_changes_nothing_even_concurrently(
    api: httpx.AsyncClient, tenant: TenantKey, profile_db: asyncpg.Connection
) -> None:
    customer = await new_customer(api, tenant)
    body = {"channel": "wechat", "purpose": "marketing", "granted": True, "source": "mini_program"}
    responses = await asyncio.gather(*(set_consent(api, tenant, customer, **body) for _ in range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert sorted(r.json()["changed"] for r in responses) == [False] * 7 + [True]
    # A different source alone is not a change.
    other_source = await set_consent(api, tenant, customer, **{**body, "source": "app_settings"})
    assert (other_source.json()["changed"], other_source.json()["source"]) == (False, "mini_program")
    assert len((await history(api, tenant, customer))["items"]) == 1
    assert len(await consent_events(profile_db, customer)) == 1


async def test_history_keeps_every_change_newest_first(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = await new_customer(api, tenant)
    changes = [
        ("email", True, "checkout_form"),
        ("email", False, "unsubscribe_link"),
        ("push", True, "app_prompt"),
        ("email", True, "preference_center"),
    ]
    for channel, granted, source in changes:
        response = await set_consent(
            api, tenant, customer, channel=channel, purpose="marketing", granted=granted, source=source
        )
        assert response.json()["changed"] is True

    seen: list[tuple[str, bool, str]] = []
    cursor = ""
    while True:
        page = await history(api, tenant, customer, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [(c["channel"], c["granted"], c["source"]) for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == changes[::-1]
    email_only = await history(api, tenant, customer, channel="email", purpose="marketing")
    assert [c["source"] for c in email_only["items"]] == [
        "preference_center",
        "unsubscribe_link",
        "checkout_form",
    ]
    times = [c["changed_at"] for c in (await history(api, tenant, customer))["items"]]
    assert times == sorted(times, reverse=True)


async def test_bad_consent_input_names_each_field(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = await new_customer(api, tenant)
    response = await set_consent(
        api, tenant, customer, channel="fax", purpose="spam", granted="yes", source="x" * 65, extra=1
    )
    assert fields_of(response) == {"channel", "purpose", "granted", "source", "extra"}
    assert fields_of(await set_consent(api, tenant, customer, channel="sms", purpose="service")) == {
        "granted"
    }
    control = await set_consent(
        api, tenant, customer, channel="sms", purpose="service", granted=True, source="a\nb"
    )
    assert fields_of(control) == {"source"}
    for params, field in [
        ({"channel": "fax"}, "channel"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "zz"}, "cursor"),
    ]:
        response = await api.get(
            f"/v1/customers/{customer}/consents/history", params=params, headers=tenant.headers
        )
        assert fields_of(response) == {field}
    # Nothing was half-written by the refused calls.
    assert (await history(api, tenant, customer))["items"] == []


async def test_consent_of_unknown_or_another_tenants_customer_is_404(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    customer = await new_customer(api, tenant)
    body = {"channel": "sms", "purpose": "marketing", "granted": True}
    for missing in (str(uuid.uuid4()), "not-a-uuid"):
        assert (await set_consent(api, tenant, missing, **body)).status_code == 404
    assert (await set_consent(api, other_tenant, customer, **body)).status_code == 404
    assert (
        await api.get(f"/v1/customers/{customer}/consents", headers=other_tenant.headers)
    ).status_code == 404
    response = await api.get(f"/v1/customers/{customer}/consents/history", headers=other_tenant.headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await history(api, tenant, customer))["items"] == []


async def test_consent_follows_a_merge_with_the_latest_statement_winning(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    survivor, merged = await new_customer(api, tenant), await new_customer(api, tenant)
    await set_consent(
        api, tenant, survivor, channel="sms", purpose="marketing", granted=True, source="old_form"
    )
    await set_consent(
        api, tenant, merged, channel="sms", purpose="marketing", granted=False, source="reply_stop"
    )
    await set_consent(api, tenant, merged, channel="push", purpose="service", granted=True, source="app")
    response = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    states = (await api.get(f"/v1/customers/{survivor}/consents", headers=tenant.headers)).json()["items"]
    by_key = {(c["channel"], c["purpose"]): (c["granted"], c["source"]) for c in states}
    assert by_key[("sms", "marketing")] == (False, "reply_stop")
    assert by_key[("push", "service")] == (True, "app")
    assert len((await history(api, tenant, survivor))["items"]) == 3

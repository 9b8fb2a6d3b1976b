"""Segment exports end to end through the gateway and the real services: customers with phones and
e-mails made through the API, a saved segment created through the API over them, an export started,
refused while it runs, progressing batch by batch, and its CSV read with masked contacts, escaped
cells and no erased or merged-away customer; profile's MaskedContacts over gRPC; the limits; and
nothing of it reachable by another tenant.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import grpc
import httpx
import pytest

from patron.profile.v1 import contacts_pb2, contacts_pb2_grpc
from services.runtime.server import ServiceServer
from services.runtime.tenancy import TENANT_METADATA_KEY
from tests.conftest import TenantKey
from tests.test_audience_projection import eventually
from tests.test_segment_preview_api import counted

HEADER = ["customer_id", "entered_at", "phone", "email"]


async def identify(
    api: httpx.AsyncClient, tenant: TenantKey, *identities: tuple[str, str], city: str | None = None
) -> str:
    body: dict[str, Any] = {"identities": [{"type": kind, "value": value} for kind, value in identities]}
    if city is not None:
        body["attributes"] = {"city": city}
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    customer: str = response.json()["customer_id"]
    return customer


def living_in(city: str) -> dict[str, Any]:
    return {"field": "attributes.city", "op": "eq", "value": city}


async def saved_segment(api: httpx.AsyncClient, tenant: TenantKey, condition: Any, members: int) -> str:
    """A saved segment of ``condition`` created through the API once scoring counts ``members``."""
    await counted(api, tenant, condition, members)
    body = {"name": f"export test {uuid.uuid4()}", "condition": condition}
    response = await api.post("/v1/segments", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    assert response.json()["count"] == members
    segment: str = response.json()["segment_id"]
    return segment


async def add_strangers(scoring_url: str, tenant: TenantKey, segment: str, count: int) -> None:
    """``count`` members no service knows, written into the segment's membership in scoring: no event
    ever touches them (so live membership leaves them be) and profile answers nothing for them."""
    connection = await asyncpg.connect(scoring_url)
    try:
        await connection.executemany(
            "INSERT INTO segment_members (tenant_id, segment_id, customer_id, entered_at, version) "
            "VALUES ($1, $2, $3, now(), 1)",
            [(uuid.UUID(tenant.tenant_id), uuid.UUID(segment), uuid.uuid4()) for _ in range(count)],
        )
    finally:
        await connection.close()


@asynccontextmanager
async def profile_contacts_held(profile_url: str) -> AsyncIterator[None]:
    """Profile's identities locked against reads: the export worker's contact call waits meanwhile,
    so an export stays running (done 0) until the block ends."""
    connection = await asyncpg.connect(profile_url)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("LOCK TABLE identities IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
    finally:
        await connection.close()


async def status_of(api: httpx.AsyncClient, tenant: TenantKey, segment: str, export: str) -> dict[str, Any]:
    response = await api.get(f"/v1/segments/{segment}/exports/{export}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def done_export(api: httpx.AsyncClient, tenant: TenantKey, segment: str, export: str) -> dict[str, Any]:
    body = await eventually(lambda: status_of(api, tenant, segment, export), lambda b: b["status"] == "done")
    assert body["status"] == "done", body
    return body


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


async def test_an_export_holds_each_member_once_with_masked_and_escaped_contacts(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    city = f"Export-{uuid.uuid4().hex[:8]}"
    alice = await identify(
        api, tenant, ("phone", "13812345678"), ("email", "Alice.Wong@example.com"), city=city
    )
    caller = await identify(api, tenant, ("phone", "+86 139 0000 4321"), city=city)
    formula = await identify(api, tenant, ("email", "=cmd|'/c.calc'!A1@example.com"), city=city)
    bare = await identify(api, tenant, ("external_id", f"ext-{uuid.uuid4().hex}"), city=city)
    survivor = await identify(api, tenant, ("app_user_id", f"app-{uuid.uuid4().hex}"), city=city)
    merged = await identify(api, tenant, ("email", "second.address@example.com"), city=city)
    erased = await identify(
        api, tenant, ("phone", "13700001111"), ("email", "erase.me@example.com"), city=city
    )
    # All seven counted first: a count of five is then only reached once the erasure and the merge
    # have been applied, never on the way up while some identifications are still in flight.
    await counted(api, tenant, living_in(city), 7)
    assert (await api.delete(f"/v1/customers/{erased}", headers=tenant.headers)).status_code == 200
    merge = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert merge.status_code == 200, merge.text
    segment = await saved_segment(api, tenant, living_in(city), 5)

    async with profile_contacts_held(database_urls["profile"]):
        started = await api.post(f"/v1/segments/{segment}/exports", headers=tenant.headers)
        assert started.status_code == 202, started.text
        body = started.json()
        export = body["export_id"]
        assert started.headers["location"] == f"/v1/segments/{segment}/exports/{export}"
        assert (body["segment_id"], body["status"], body["segment_version"]) == (segment, "queued", 1)
        assert body["progress"] == {"done": 0, "total": 5}

        early = await api.get(f"/v1/segments/{segment}/exports/{export}/csv", headers=tenant.headers)
        assert early.status_code == 409, early.text
        assert early.headers["content-type"] == "application/problem+json"
        assert early.json()["reason"] == "EXPORT_NOT_READY"
        assert (await status_of(api, tenant, segment, export))["progress"]["done"] == 0

    done = await done_export(api, tenant, segment, export)
    assert (done["progress"], done["rows"], done["error"]) == ({"done": 5, "total": 5}, 5, None)
    finished = datetime.fromisoformat(done["finished_at"])
    assert datetime.fromisoformat(done["expires_at"]) - finished == timedelta(hours=24)

    response = await api.get(f"/v1/segments/{segment}/exports/{export}/csv", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="segment-{segment}-export-{export}.csv"'
    )
    assert response.text.startswith("customer_id,entered_at,phone,email\r\n")
    rows = rows_of(response.text)
    assert rows[0] == HEADER
    expected = {
        alice: ["'+86 138****5678", "a***@example.com"],
        caller: ["'+86 139****4321", ""],
        formula: ["", "'=***@example.com"],
        bare: ["", ""],
        survivor: ["", "s***@example.com"],  # the e-mail of the customer merged into it
    }
    assert [[row[0], row[2], row[3]] for row in rows[1:]] == [[c, *expected[c]] for c in sorted(expected)]
    assert all(row[1].endswith("Z") and datetime.fromisoformat(row[1]) for row in rows[1:])
    for clear in ("13812345678", "alice.wong", "13900004321", "cmd|", "13700001111", "erase.me", "second."):
        assert clear not in response.text.lower()

    # Erased after the file was written: gone from it as soon as scoring learns of the erasure.
    assert (await api.delete(f"/v1/customers/{caller}", headers=tenant.headers)).status_code == 200

    async def download() -> list[list[str]]:
        again = await api.get(f"/v1/segments/{segment}/exports/{export}/csv", headers=tenant.headers)
        assert again.status_code == 200, again.text
        return rows_of(again.text)

    after = await eventually(download, lambda r: len(r) == 5)
    assert [row[0] for row in after[1:]] == sorted([alice, formula, bare, survivor])

    for method, path in (
        ("post", f"/v1/segments/{segment}/exports"),
        ("get", f"/v1/segments/{segment}/exports/{export}"),
        ("get", f"/v1/segments/{segment}/exports/{export}/csv"),
    ):
        foreign = await api.request(method, path, headers=other_tenant.headers)
        assert foreign.status_code == 404, (method, path, foreign.text)


async def test_progress_moves_a_batch_at_a_time_and_a_tenant_runs_three_exports_at_once(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    segment = await saved_segment(api, tenant, living_in(f"nobody-{uuid.uuid4().hex[:8]}"), 0)
    empty = await saved_segment(api, tenant, living_in(f"nobody-{uuid.uuid4().hex[:8]}"), 0)
    await add_strangers(database_urls["scoring"], tenant, segment, 2_500)
    h = tenant.headers
    for path in (f"/v1/segments/{uuid.uuid4()}/exports", "/v1/segments/not-a-segment/exports"):
        assert (await api.post(path, headers=h)).status_code == 404

    async with profile_contacts_held(database_urls["profile"]):
        started = [await api.post(f"/v1/segments/{segment}/exports", headers=h) for _ in range(3)]
        assert [s.status_code for s in started] == [202, 202, 202], started[0].text
        assert started[0].json()["progress"] == {"done": 0, "total": 2_500}
        refused = await api.post(f"/v1/segments/{segment}/exports", headers=h)
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "60"
        assert "the most at once is 3" in refused.json()["detail"]
        export = started[0].json()["export_id"]
        for path in (
            f"/v1/segments/{empty}/exports/{export}",
            f"/v1/segments/{segment}/exports/{uuid.uuid4()}",
            f"/v1/segments/{segment}/exports/not-an-export",
            f"/v1/segments/{empty}/exports/{export}/csv",
        ):
            assert (await api.get(path, headers=h)).status_code == 404, path

    seen: list[int] = []

    async def progress() -> dict[str, Any]:
        state = await status_of(api, tenant, segment, export)
        seen.append(state["progress"]["done"])
        return state

    finished = await eventually(progress, lambda b: b["status"] == "done")
    assert (finished["progress"], finished["rows"]) == ({"done": 2_500, "total": 2_500}, 0)
    assert seen == sorted(seen)
    assert set(seen) <= {0, 1_000, 2_000, 2_500}  # done moves a committed batch at a time
    for other in started[1:]:
        await done_export(api, tenant, segment, other.json()["export_id"])
    file = await api.get(f"/v1/segments/{segment}/exports/{export}/csv", headers=h)
    assert file.text == "customer_id,entered_at,phone,email\r\n"  # profile knows none of them

    nothing = await api.post(f"/v1/segments/{empty}/exports", headers=h)
    assert nothing.status_code == 202, nothing.text
    assert (nothing.json()["status"], nothing.json()["progress"]) == ("done", {"done": 0, "total": 0})


async def test_profile_answers_masked_contacts_of_its_live_customers_only(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, services: dict[str, ServiceServer]
) -> None:
    alice = await identify(api, tenant, ("phone", "13812340000"), ("email", "alice.two@example.com"))
    erased = await identify(api, tenant, ("phone", "13812340001"))
    merged = await identify(api, tenant, ("email", "merged.one@example.com"))
    assert (await api.delete(f"/v1/customers/{erased}", headers=tenant.headers)).status_code == 200
    merge = await api.post(
        f"/v1/customers/{alice}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert merge.status_code == 200, merge.text
    theirs = await identify(api, other_tenant, ("phone", "13812340002"))

    async with grpc.aio.insecure_channel(f"127.0.0.1:{services['profile'].bound_port}") as channel:
        stub = contacts_pb2_grpc.ContactServiceStub(channel)
        metadata = ((TENANT_METADATA_KEY, tenant.tenant_id),)

        async def ask(ids: list[str]) -> contacts_pb2.MaskedContactsResponse:
            request = contacts_pb2.MaskedContactsRequest(customer_ids=ids)
            answer: contacts_pb2.MaskedContactsResponse = await stub.MaskedContacts(
                request, timeout=5, metadata=metadata
            )
            return answer

        answer = await ask([theirs, erased, alice, merged, str(uuid.uuid4()), alice])
        assert [(c.customer_id, c.phone, c.email) for c in answer.contacts] == [
            (alice, "+86 138****0000", "m***@example.com")  # the e-mail recorded last: the merged one's
        ]
        with pytest.raises(grpc.aio.AioRpcError) as malformed:
            await ask([alice, "not-a-customer"])
        assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "customer_ids[1]" in (malformed.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as large:
            await ask([str(uuid.uuid4()) for _ in range(1_001)])
        assert large.value.code() == grpc.StatusCode.INVALID_ARGUMENT

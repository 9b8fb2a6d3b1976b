"""Segment exports end to end through the gateway and the real services: customers with phones and
e-mails made through the API, a saved segment's membership (written into scoring's tables: saved
segments are not reachable through the API on this branch), an export started, refused while it
runs, progressing batch by batch, and its CSV read with masked contacts, escaped cells, no erased
or merged-away member, and nothing of it reachable by another tenant.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from tests.conftest import TenantKey
from tests.test_audience_projection import eventually

HEADER = ["customer_id", "entered_at", "phone", "email"]
ENTERED = datetime(2026, 12, 1, 2, 3, 4, tzinfo=UTC)


async def identify(api: httpx.AsyncClient, tenant: TenantKey, *identities: tuple[str, str]) -> str:
    body = {"identities": [{"type": kind, "value": value} for kind, value in identities]}
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    customer: str = response.json()["customer_id"]
    return customer


async def saved_segment(scoring_url: str, tenant: TenantKey, members: Sequence[str]) -> str:
    """A saved segment of ``tenant`` holding ``members``, written into scoring's database."""
    segment = uuid.uuid4()
    connection = await asyncpg.connect(scoring_url)
    try:
        await connection.execute(
            "INSERT INTO segments (tenant_id, segment_id, name, condition, version, created_at, updated_at) "
            "VALUES ($1, $2, $3, '{}', 2, now(), now())",
            uuid.UUID(tenant.tenant_id),
            segment,
            f"export test {segment}",
        )
        await connection.executemany(
            "INSERT INTO segment_members (tenant_id, segment_id, customer_id, entered_at, version) "
            "VALUES ($1, $2, $3, $4, 2)",
            [(uuid.UUID(tenant.tenant_id), segment, uuid.UUID(m), ENTERED) for m in members],
        )
    finally:
        await connection.close()
    return str(segment)


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


async def test_an_export_runs_in_batches_and_its_file_holds_masked_contacts_only(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    alice = await identify(api, tenant, ("phone", "13812345678"), ("email", "Alice.Wong@example.com"))
    caller = await identify(api, tenant, ("phone", "+86 139 0000 4321"))
    formula = await identify(api, tenant, ("email", "=cmd|'/c.calc'!A1@example.com"))
    bare = await identify(api, tenant, ("external_id", f"ext-{uuid.uuid4().hex}"))
    survivor = await identify(api, tenant, ("app_user_id", f"app-{uuid.uuid4().hex}"))
    erased = await identify(api, tenant, ("phone", "13700001111"), ("email", "erase.me@example.com"))
    merged = await identify(api, tenant, ("email", "second.address@example.com"))
    assert (await api.delete(f"/v1/customers/{erased}", headers=tenant.headers)).status_code == 200
    merge = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert merge.status_code == 200, merge.text
    people = [alice, caller, formula, bare, survivor, erased, merged]
    strangers = [str(uuid.uuid4()) for _ in range(2_500 - len(people))]  # unknown to profile: no row
    segment = await saved_segment(database_urls["scoring"], tenant, [*people, *strangers])

    async with profile_contacts_held(database_urls["profile"]):
        started = await api.post(f"/v1/segments/{segment}/exports", headers=tenant.headers)
        assert started.status_code == 202, started.text
        body = started.json()
        export = body["export_id"]
        assert started.headers["location"] == f"/v1/segments/{segment}/exports/{export}"
        assert body["segment_id"] == segment
        assert body["status"] == "queued"
        assert body["progress"] == {"done": 0, "total": 2_500}
        assert body["segment_version"] == 2

        early = await api.get(f"/v1/segments/{segment}/exports/{export}/csv", headers=tenant.headers)
        assert early.status_code == 409, early.text
        assert early.headers["content-type"] == "application/problem+json"
        assert early.json()["reason"] == "EXPORT_NOT_READY"
        assert (await status_of(api, tenant, segment, export))["progress"]["done"] == 0

    seen: list[int] = []

    async def progress() -> dict[str, Any]:
        state = await status_of(api, tenant, segment, export)
        seen.append(state["progress"]["done"])
        return state

    done = await eventually(progress, lambda b: b["status"] == "done")
    assert done["progress"] == {"done": 2_500, "total": 2_500}
    assert done["rows"] == 5
    assert seen == sorted(seen)
    assert set(seen) <= {0, 1_000, 2_000, 2_500}  # done moves a committed batch at a time
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
        alice: [alice, "2026-12-01T02:03:04Z", "'+86 138****5678", "a***@example.com"],
        caller: [caller, "2026-12-01T02:03:04Z", "'+86 139****4321", ""],
        formula: [formula, "2026-12-01T02:03:04Z", "", "'=***@example.com"],
        bare: [bare, "2026-12-01T02:03:04Z", "", ""],
        survivor: [survivor, "2026-12-01T02:03:04Z", "", "s***@example.com"],  # the merged one's e-mail
    }
    assert rows[1:] == [expected[c] for c in sorted(expected)]
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

    # Another tenant: every id is unknown.
    for method, path in (
        ("post", f"/v1/segments/{segment}/exports"),
        ("get", f"/v1/segments/{segment}/exports/{export}"),
        ("get", f"/v1/segments/{segment}/exports/{export}/csv"),
    ):
        foreign = await api.request(method, path, headers=other_tenant.headers)
        assert foreign.status_code == 404, (method, path, foreign.text)


async def test_unknown_ids_are_404_and_a_tenant_may_run_three_exports_at_once(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    member = await identify(api, tenant, ("phone", "13622223333"))
    segment = await saved_segment(database_urls["scoring"], tenant, [member])
    other_segment = await saved_segment(database_urls["scoring"], tenant, [])
    h = tenant.headers
    for path in (
        f"/v1/segments/{uuid.uuid4()}/exports",
        "/v1/segments/not-a-segment/exports",
    ):
        assert (await api.post(path, headers=h)).status_code == 404

    async with profile_contacts_held(database_urls["profile"]):
        started = [await api.post(f"/v1/segments/{segment}/exports", headers=h) for _ in range(3)]
        assert [s.status_code for s in started] == [202, 202, 202]
        refused = await api.post(f"/v1/segments/{segment}/exports", headers=h)
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "60"
        assert "the most at once is 3" in refused.json()["detail"]
        export = started[0].json()["export_id"]
        for path in (
            f"/v1/segments/{other_segment}/exports/{export}",
            f"/v1/segments/{segment}/exports/{uuid.uuid4()}",
            f"/v1/segments/{segment}/exports/not-an-export",
            f"/v1/segments/{other_segment}/exports/{export}/csv",
        ):
            assert (await api.get(path, headers=h)).status_code == 404, path

    for s in started:
        await done_export(api, tenant, segment, s.json()["export_id"])
    empty = await api.post(f"/v1/segments/{other_segment}/exports", headers=h)
    assert empty.status_code == 202, empty.text
    assert empty.json()["status"] == "done"
    assert empty.json()["progress"] == {"done": 0, "total": 0}
    file = await api.get(f"/v1/segments/{other_segment}/exports/{empty.json()['export_id']}/csv", headers=h)
    assert file.text == "customer_id,entered_at,phone,email\r\n"

"""Every path that names customers by identities — identify, an order, an order batch, an event —
applies the one merge rule: two existing customers merge only through identities verified in the
call or of the tenant's auto-merge types (docs/security.md "Verified identities and merge suggestions").

A property test drives random sequences of calls over random paths, identities, verified flags and
tenant settings against a model of who holds which identity, and checks after every call that no
customer linked only through an untrusted identity was merged, and that those linked through trusted
ones became one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.profile.domain.identities import IDENTITY_TYPES, NormalizedIdentity
from services.profile.domain.identity_resolution import (
    DEFAULT_AUTO_MERGE_TYPES,
    Apart,
    Candidate,
    Link,
    ResolutionPlan,
    plan_resolution,
    validate_auto_merge_types,
)
from services.runtime.errors import InvalidArgument
from tests.conftest import TenantKey, create_tenant
from tests.test_orders import order_body

Identity = dict[str, Any]
Send = Callable[[httpx.AsyncClient, TenantKey, list[Identity]], Awaitable[None]]


async def _identify(api: httpx.AsyncClient, tenant: TenantKey, identities: list[Identity]) -> None:
    response = await api.post(
        "/v1/customers/identify", json={"identities": identities}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


async def _order(api: httpx.AsyncClient, tenant: TenantKey, identities: list[Identity]) -> None:
    body = order_body(f"O-{uuid.uuid4().hex[:12]}", identities=identities)
    response = await api.post("/v1/orders", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text


async def _order_batch(api: httpx.AsyncClient, tenant: TenantKey, identities: list[Identity]) -> None:
    # With a second order naming a new customer, so the batch's set-based paths run beside it.
    fresh = [{"type": "external_id", "value": f"fresh-{uuid.uuid4().hex[:8]}"}]
    orders = [order_body(f"B-{uuid.uuid4().hex[:12]}", identities=i) for i in (identities, fresh)]
    response = await api.post("/v1/orders/batch", json={"orders": orders}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2, response.text


async def _event(api: httpx.AsyncClient, tenant: TenantKey, identities: list[Identity]) -> None:
    event = {
        "event_id": f"E-{uuid.uuid4().hex[:12]}",
        "type": "view",
        "occurred_at": "2026-01-01T00:00:00Z",
        "identities": identities,
    }
    response = await api.post("/v1/events", json={"events": [event]}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1, response.text


PATHS: dict[str, Send] = {"identify": _identify, "order": _order, "batch": _order_batch, "event": _event}


async def holder(api: httpx.AsyncClient, tenant: TenantKey, kind: str, value: str) -> str | None:
    """The live customer holding an identity, or None."""
    response = await api.get(
        "/v1/customers", params={"identity_type": kind, "identity_value": value}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) <= 1
    return items[0]["customer_id"] if items else None


async def merged_into(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str) -> str | None:
    response = await api.get(f"/v1/customers/{customer_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    into: str | None = response.json()["merged_into"]
    return into


@pytest.mark.parametrize("path", sorted(PATHS))
async def test_each_path_merges_only_through_trusted_identities(
    api: httpx.AsyncClient, tenant: TenantKey, path: str
) -> None:
    send = PATHS[path]

    async def pair(n: int, first: Identity, second: Identity) -> tuple[str, str]:
        await _identify(api, tenant, [first])
        await _identify(api, tenant, [second])
        a = await holder(api, tenant, first["type"], first["value"])
        b = await holder(api, tenant, second["type"], second["value"])
        assert a is not None, n
        assert b is not None, n
        assert a != b, n
        return a, b

    phone = {"type": "phone", "value": "13900007001"}
    mail = {"type": "email", "value": "paths@example.com"}
    older, younger = await pair(1, phone, mail)
    await send(api, tenant, [phone, mail])  # unverified: apart, one suggestion
    assert await merged_into(api, tenant, younger) is None
    listed = (await api.get("/v1/merge-suggestions", headers=tenant.headers)).json()["items"]
    assert [(s["customer_id"], s["other_customer_id"]) for s in listed] == [(older, younger)]
    await send(api, tenant, [{**phone, "verified": True}, {**mail, "verified": True}])  # verified: merged
    assert await merged_into(api, tenant, younger) == older
    listed = (await api.get("/v1/merge-suggestions", headers=tenant.headers)).json()["items"]
    assert [(s["status"], s["close_reason"]) for s in listed] == [("closed", "merged")]

    app = {"type": "app_user_id", "value": "paths-u"}
    ext = {"type": "external_id", "value": "paths-x"}
    first, second = await pair(2, app, ext)
    await send(api, tenant, [ext, app])  # both of default auto-merge types: merged
    assert await merged_into(api, tenant, second) == first


# ---- the property ---------------------------------------------------------------------------------

POOL: list[tuple[str, str]] = [
    ("phone", "13900008001"),
    ("phone", "13900008002"),
    ("email", "pa@example.com"),
    ("email", "pb@example.com"),
    ("app_user_id", "pu-1"),
    ("wechat_openid", "po-1"),
    ("platform_nick", "pn-1"),
]
CALL = st.tuples(
    st.sampled_from(sorted(PATHS)),
    st.lists(
        st.tuples(st.integers(0, len(POOL) - 1), st.booleans()),
        min_size=1,
        max_size=3,
        unique_by=lambda t: t[0],
    ),
)
SETTINGS = st.one_of(st.none(), st.sets(st.sampled_from(IDENTITY_TYPES), max_size=3))


async def _run(api: httpx.AsyncClient, auto_merge: set[str] | None, calls: list[Any]) -> None:
    tenant = await create_tenant(api, "Merge property")
    trusted_types = set(DEFAULT_AUTO_MERGE_TYPES)
    if auto_merge is not None:
        saved = await api.put(
            "/v1/identity-resolution", json={"auto_merge_types": sorted(auto_merge)}, headers=tenant.headers
        )
        assert saved.status_code == 200, saved.text
        trusted_types = auto_merge
    held: dict[int, str] = {}  # pool index → the live customer holding it
    for path, picks in calls:
        identities = [{"type": POOL[i][0], "value": POOL[i][1], "verified": v} for i, v in picks]
        candidates = {held[i] for i, _ in picks if i in held}
        trusted = {
            held[i] for i, verified in picks if i in held and (verified or POOL[i][0] in trusted_types)
        }
        await PATHS[path](api, tenant, identities)
        fate = {c: await merged_into(api, tenant, c) for c in candidates}
        for customer_id in candidates - trusted:
            assert fate[customer_id] is None, (
                f"{customer_id} merged through an untrusted identity: {path} {picks}"
            )
        for customer_id, survivor in fate.items():
            if survivor is not None:
                assert customer_id in trusted, (path, picks, fate)
                assert survivor in trusted, (path, picks, fate)
        assert len({fate[c] or c for c in trusted}) <= 1, f"trusted links left apart: {path} {picks}"
        for i in {*held, *(i for i, _ in picks)}:
            found = await holder(api, tenant, *POOL[i])
            assert found is not None
            held[i] = found
    listed = (await api.get("/v1/merge-suggestions?status=open", headers=tenant.headers)).json()["items"]
    pairs = [frozenset((s["customer_id"], s["other_customer_id"])) for s in listed]
    assert len(pairs) == len(set(pairs)), "two open suggestions of one pair"
    for pair in pairs:
        assert len(pair) == 2
        assert all([await merged_into(api, tenant, c) is None for c in pair]), "an open pair was merged"


async def test_no_sequence_of_calls_merges_through_an_untrusted_identity(api: httpx.AsyncClient) -> None:
    loop = asyncio.get_running_loop()

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(auto_merge=SETTINGS, calls=st.lists(CALL, min_size=1, max_size=6))
    def check(auto_merge: set[str] | None, calls: list[Any]) -> None:
        asyncio.run_coroutine_threadsafe(_run(api, auto_merge, calls), loop).result(timeout=120)

    await asyncio.to_thread(check)


# ---- the rule itself (domain.identity_resolution, no database) -------------------------------------


def _candidate(n: int, *links: tuple[str, bool, bool]) -> Candidate:
    """Customer n holding the call's identities (type, verified in the call, held verified)."""
    return Candidate(
        uuid.UUID(int=n),
        tuple(
            Link(NormalizedIdentity(kind, f"{kind}-{n}", f"m-{n}", verified), held)
            for kind, verified, held in links
        ),
    )


def test_the_rule_merges_trusted_links_into_the_oldest_and_keeps_the_rest_apart() -> None:
    one = _candidate(1, ("phone", False, False))
    two = _candidate(2, ("email", True, False))
    three = _candidate(3, ("app_user_id", False, False))
    four = _candidate(4, ("platform_nick", False, True))
    plan = plan_resolution([one, two, three, four], DEFAULT_AUTO_MERGE_TYPES)
    assert plan == ResolutionPlan(
        uuid.UUID(int=2),
        [uuid.UUID(int=3)],
        [Apart(uuid.UUID(int=1), "phone", "m-1"), Apart(uuid.UUID(int=4), "platform_nick", "m-4")],
    )
    assert plan_resolution([one], ()) == ResolutionPlan(uuid.UUID(int=1))


def test_without_trusted_links_the_strongest_holder_takes_the_call() -> None:
    nick_held_verified = _candidate(1, ("platform_nick", False, True))
    phone = _candidate(2, ("phone", False, False))
    external = _candidate(3, ("external_id", False, False))
    assert plan_resolution([phone, external], ()).customer_id == uuid.UUID(int=3)  # type beats age
    assert plan_resolution([phone, external, nick_held_verified], ()).customer_id == uuid.UUID(int=1)
    twin = _candidate(4, ("phone", False, False))
    assert plan_resolution([phone, twin], ()).customer_id == uuid.UUID(int=2)  # then the oldest
    # The identity shown for a customer kept apart is its strongest link.
    both = _candidate(5, ("email", False, False), ("phone", False, False))
    assert plan_resolution([external, both], ()).apart == [Apart(uuid.UUID(int=5), "phone", "m-5")]


def test_auto_merge_types_are_checked_and_kept_in_strength_order() -> None:
    assert validate_auto_merge_types(["email", "external_id", "email"]) == ("external_id", "email")
    assert validate_auto_merge_types([]) == ()
    with pytest.raises(InvalidArgument) as refused:
        validate_auto_merge_types(["phone", "fax", "pager"])
    assert [v.field for v in refused.value.violations] == ["auto_merge_types[1]", "auto_merge_types[2]"]

"""Scoring rules on a small hand-checkable tenant, through the gateway and the real services.

Fixed RFM thresholds and the mean split make every score computable by hand (see the comments);
lifecycle changes are read back from scoring's outbox to show each is announced exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from patron.events.v1 import envelope_pb2
from tests.conftest import TenantKey
from tests.test_scoring_api import customer, eventually, order, run, scored_orders, scores

FIXED = {
    "rfm": {
        "method": "fixed",
        "split": "mean",
        "fixed_thresholds": {
            "recency_days": [10, 20, 30, 60],
            "frequency": [1, 2, 3, 4],
            "monetary_minor": [10_000, 20_000, 30_000, 40_000],
        },
    }
}


async def stage_changes(database_urls: dict[str, str], customer_id: str) -> list[tuple[str, str]]:
    connection = await asyncpg.connect(database_urls["scoring"])
    try:
        rows = await connection.fetch(
            "SELECT envelope FROM outbox WHERE customer_id = $1"
            " AND type = 'lifecycle.stage_changed' ORDER BY id",
            customer_id,
        )
    finally:
        await connection.close()
    changes = []
    for row in rows:
        envelope = envelope_pb2.EventEnvelope.FromString(row["envelope"])
        changes.append(
            (envelope.lifecycle_stage_changed.from_stage, envelope.lifecycle_stage_changed.to_stage)
        )
    return changes


async def test_fixed_thresholds_groups_and_lifecycle(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    put = await api.put("/v1/scoring/config", json=FIXED, headers=tenant.headers)
    assert put.status_code == 200, put.text
    assert put.json()["rfm"]["method"] == "fixed"
    c1 = await customer(api, tenant, "13900000011")
    c2 = await customer(api, tenant, "13900000012")
    c3 = await customer(api, tenant, "13900000013")
    idle = await customer(api, tenant, "13900000014")
    for n, days in enumerate((25, 15, 5)):
        await order(api, tenant, c1, f"C1-{n}", days, 20_000, category="tea")
    await order(api, tenant, c2, "C2-0", 45, 5_000)
    await order(api, tenant, c3, "C3-0", 100, 25_000)
    await order(api, tenant, c3, "C3-1", 40, 25_000)
    await scored_orders(api, tenant, c1, 3)
    await scored_orders(api, tenant, c2, 1)
    await scored_orders(api, tenant, c3, 2)
    await run(api, tenant)
    one, two, three, none = [await scores(api, tenant, c) for c in (c1, c2, c3, idle)]
    # c1: recency 5 < all cuts → r 5; 3 orders > 1, 2 → f 3; 60,000 > every cut → m 5.
    assert (one["rfm"]["r"], one["rfm"]["f"], one["rfm"]["m"]) == (5, 3, 5)
    # c2: 45 < 60 only → r 2; f 1; 5,000 → m 1.  c3: 40 < 60 → r 2; 2 > 1 → f 2; 50,000 → m 5.
    assert (two["rfm"]["r"], two["rfm"]["f"], two["rfm"]["m"]) == (2, 1, 1)
    assert (three["rfm"]["r"], three["rfm"]["f"], three["rfm"]["m"]) == (2, 2, 5)
    # Means: recency 30 d, frequency 2, monetary 38,333.
    assert one["rfm"]["group"] == "core_value"
    assert one["rfm"]["group_label"] == "重要价值客户"
    assert two["rfm"]["group"] == "lost"
    assert three["rfm"]["group"] == "to_retain"
    assert none["rfm"] is None
    # Lifecycle: c1 gap 10 d → limits 20 / 40, idle 5, 3 orders → mature; c2 one order idle 45 > 30
    # → decline; c3 gap 60 d → limits 120 / 240, idle 40, 2 orders → growth; no order → acquisition.
    assert [s["lifecycle"]["stage"] for s in (one, two, three, none)] == [
        "mature",
        "decline",
        "growth",
        "acquisition",
    ]
    summary = (await api.get("/v1/scoring/rfm", headers=tenant.headers)).json()
    groups = {g["group"]: g for g in summary["groups"]}
    assert groups["core_value"]["customers"] == 1
    assert groups["core_value"]["spend_minor"] == 60_000
    assert summary["customers_without_rfm"] == 1
    assert {"r": 5, "f": 3, "m": 5, "customers": 1} in summary["grid"]
    assert summary["thresholds"]["method"] == "fixed"
    stages = (await api.get("/v1/scoring/lifecycle", headers=tenant.headers)).json()["stages"]
    assert stages == {"acquisition": 1, "growth": 1, "mature": 1, "decline": 1, "churned": 0}
    # Each change announced once: created → acquisition, its old order → decline; a second run
    # changes nothing and announces nothing.
    assert await stage_changes(database_urls, c2) == [("", "acquisition"), ("acquisition", "decline")]
    await run(api, tenant)
    assert await stage_changes(database_urls, c2) == [("", "acquisition"), ("acquisition", "decline")]


async def test_quintiles_and_a_new_order_rescores_at_once(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    ids = [await customer(api, tenant, f"1390000002{n}") for n in range(5)]
    for n, customer_id in enumerate(ids):
        await order(api, tenant, customer_id, f"Q-{n}", 10 * (n + 1), 10_000 * (n + 1))
    for customer_id in ids:
        await scored_orders(api, tenant, customer_id, 1)
    await run(api, tenant)
    summary = (await api.get("/v1/scoring/rfm", headers=tenant.headers)).json()
    # Recency 10..50 days: quintile cut points 18, 26, 34, 42 (percentile_cont).
    assert summary["thresholds"]["recency_days"] == [18.0, 26.0, 34.0, 42.0]
    before = await scores(api, tenant, ids[0])
    assert before["rfm"]["r"] == 5
    last = await scores(api, tenant, ids[4])
    assert (last["rfm"]["r"], last["rfm"]["m"]) == (1, 5)
    # A new order re-scores its customer against the stored thresholds, without a run.
    await order(api, tenant, ids[4], "Q-new", 0, 1_000)

    async def rescored() -> dict[str, object] | None:
        body = await scores(api, tenant, ids[4])
        return body if body["rfm"]["frequency"] == 2 else None

    after = await eventually(rescored)
    assert after["rfm"]["r"] == 5
    assert after["rfm"]["f"] == 5  # 2 orders > every cut point (all 1)


async def test_engagement_decays_and_tags_land_in_profile(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    put = await api.put(
        "/v1/scoring/config",
        json={"engagement": {"half_life_days": 10, "weights": {"view": 2, "order": 0}}},
        headers=tenant.headers,
    )
    assert put.status_code == 200, put.text
    alice = await customer(api, tenant, "13900000031")
    await order(api, tenant, alice, "E-1", 0, 5_000, category="shoes", brand="Li Ning")
    now = datetime.now(UTC)
    events = [
        {"event_id": "v1", "type": "view", "occurred_at": now.isoformat(), "customer_id": alice},
        {
            "event_id": "v2",
            "type": "view",
            "occurred_at": (now - timedelta(days=10)).isoformat(),
            "customer_id": alice,
        },
    ]
    posted = await api.post("/v1/events", json={"events": events}, headers=tenant.headers)
    assert posted.status_code == 200, posted.text

    async def counted() -> dict[str, object] | None:
        body = await scores(api, tenant, alice)
        return body if body["features"].get("activity_counts", {}).get("view", {}).get("30d") == 2 else None

    body = await eventually(counted)
    # 2 * 0.5^(0/10) + 2 * 0.5^(10/10) = 3; orders weigh 0 here.
    assert abs(body["engagement"] - 3.0) < 1e-6
    assert body["features"]["activity_counts"]["view"] == {"7d": 1, "30d": 2, "90d": 2}
    await run(api, tenant)
    tags = (await api.get(f"/v1/customers/{alice}/tags", headers=tenant.headers)).json()["items"]
    names = {(t["name"], t["source"]) for t in tags}
    assert ("shoes", "scoring") in names
    assert ("Li Ning", "scoring") in names


async def test_merge_erase_tenant_wall_and_validation(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    keep = await customer(api, tenant, "13900000041")
    gone = await customer(api, tenant, "13900000042")
    await order(api, tenant, keep, "M-1", 3, 1_000)
    await order(api, tenant, gone, "M-2", 2, 2_000)
    await scored_orders(api, tenant, gone, 1)
    merged = await api.post(
        f"/v1/customers/{keep}/merge", json={"other_customer_id": gone}, headers=tenant.headers
    )
    assert merged.status_code == 200, merged.text
    survivor = await scored_orders(api, tenant, keep, 2)
    assert survivor["features"]["net_spend_minor"] == 3_000
    via_old_id = await scores(api, tenant, gone)
    assert via_old_id["merged_into"] == keep
    assert via_old_id["customer_id"] == keep
    # Another tenant's key sees nothing of it.
    assert (await api.get(f"/v1/customers/{keep}/scores", headers=other_tenant.headers)).status_code == 404
    unknown_run = "00000000-0000-0000-0000-000000000000"
    assert (await api.get(f"/v1/scoring/runs/{unknown_run}", headers=tenant.headers)).status_code == 404
    # Erasure removes every fact scoring held.
    erased = await api.delete(f"/v1/customers/{keep}", headers=tenant.headers)
    assert erased.status_code == 200, erased.text

    async def forgotten() -> bool:
        connection = await asyncpg.connect(database_urls["scoring"])
        try:
            left = await connection.fetchval(
                "SELECT (SELECT count(*) FROM orders WHERE customer_id = $1)"
                " + (SELECT count(*) FROM customer_scores WHERE customer_id = $1)",
                keep,
            )
        finally:
            await connection.close()
        return bool(left == 0)

    await eventually(forgotten)
    # Validation names every bad field and stores nothing.
    bad = await api.put(
        "/v1/scoring/config",
        json={"rfm": {"method": "fixed", "window_days": 0}, "lifecycle": {"churn_days": 5}, "extra": 1},
        headers=tenant.headers,
    )
    assert bad.status_code == 422, bad.text
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"rfm.window_days", "rfm.fixed_thresholds", "lifecycle.churn_days", "extra"} <= fields
    current = (await api.get("/v1/scoring/config", headers=tenant.headers)).json()
    assert current["rfm"]["method"] == "quintiles"
    bad_run = await api.post("/v1/scoring/runs", json={"as_of": "2999-01-01"}, headers=tenant.headers)
    assert bad_run.status_code == 422, bad_run.text


async def test_tags_reuse_the_groups_and_tags_an_operator_already_made(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    # Profile answers ALREADY_EXISTS (names compare case-insensitively); scoring finds the ids by name.
    group = await api.post(
        "/v1/tag-groups", json={"kind": "preference", "name": "top category"}, headers=tenant.headers
    )
    assert group.status_code == 201, group.text
    tag = await api.post(
        "/v1/tags", json={"group_id": group.json()["group_id"], "name": "BOOKS"}, headers=tenant.headers
    )
    assert tag.status_code == 201, tag.text
    reader = await customer(api, tenant, "13900000041")
    await order(api, tenant, reader, "B-1", 0, 3_000, category="books")
    await scored_orders(api, tenant, reader, 1)
    await run(api, tenant)
    tags = (await api.get(f"/v1/customers/{reader}/tags", headers=tenant.headers)).json()["items"]
    assert (tag.json()["tag_id"], "scoring") in {(t["tag_id"], t["source"]) for t in tags}

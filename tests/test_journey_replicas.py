"""Issue 13, item 6: two notify replicas on the same database running the same journeys — no step
twice, and both do part of the work.

Both processes run the journey worker and the consumers. 300 consented customers enter a journey
with five effect steps after its wait (a coupon, a message carrying it, a second coupon of another
template, a second message carrying that one, a tag). The journeys' clock moves on and the replicas
share the due instances: small claims (``PATRON_NOTIFY_JOURNEY_BATCH=20``) and a five-second lease,
which a loaded machine overruns, so an instance's lease lapsing under one replica while the other
claims it happens here too. And the second replica is SIGKILLed once, mid-run, right after a coupon
and before its step commits (seeded N-th coupon), then restarted: its leased instances are taken
over after their lease. Afterwards: the ledger holds each (instance, path) once, loyalty holds
exactly one coupon of each template per customer, notify one message per send step per customer, and
the provider one delivery per message. Who did the work is read from each replica's log ("journey
round claimed N instances", one line per claim, written before the claimed instances run).
"""

from __future__ import annotations

import random
import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notify.fault_injection import KILL_AFTER_COUPON_ENV
from services.runtime.server import ServiceServer
from tests.conftest import TenantKey
from tests.journey_processes import (
    SECRET,
    NotifyCluster,
    add_to_cart_all,
    consented_customers,
    coupon_template,
    coupons_by_customer,
    http_channel,
    notify_cluster,
    reminder_template,
    waiting_for,
)
from tests.journey_support import install_journey, move_clock
from tests.notify_peers import HttpPeer, serve
from tests.support import PostgresServer

CUSTOMERS = 300
SEED = 31
CLAIMED = re.compile(r"journey round claimed (\d+) instances")
PATHS = {"steps[0]", "steps[1]", "steps[2]", "steps[3]", "steps[4]", "steps[5]"}


def five_effects(first: str, second: str, reminder: str, tag: str) -> dict[str, Any]:
    return {
        "name": "two offers",
        "trigger": {"event": "add_to_cart"},
        "steps": [
            {"wait": "PT1H"},
            {"issue_coupon": {"template_id": first}},
            {"send": {"template_id": reminder}},
            {"issue_coupon": {"template_id": second}},
            {"send": {"template_id": reminder}},
            {"tag": {"tag_id": tag}},
        ],
    }


async def a_tag(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    group = await api.post(
        "/v1/tag-groups",
        json={"name": f"journeys {uuid.uuid4().hex[:6]}", "kind": "static"},
        headers=tenant.headers,
    )
    assert group.status_code == 201, group.text
    body = {"name": "二次提醒", "group_id": group.json()["group_id"]}
    made = await api.post("/v1/tags", json=body, headers=tenant.headers)
    assert made.status_code == 201, made.text
    return str(made.json()["tag_id"])


async def count(cluster: NotifyCluster, sql: str, *args: Any) -> int:
    return int((await cluster.rows(sql, *args))[0]["n"])


@pytest.mark.timeout(300)
async def test_two_replicas_share_the_due_instances_and_no_step_runs_twice(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    services: dict[str, ServiceServer],
    postgres: PostgresServer,
    database_urls: dict[str, str],
    tmp_path: Path,
) -> None:
    peer = HttpPeer(secret=SECRET)
    async with (
        serve(peer.app()) as peer_url,
        notify_cluster(
            2, tenant, services, postgres, database_urls, tmp_path, PATRON_NOTIFY_JOURNEY_BATCH="20"
        ) as cluster,
    ):
        dies_after = random.Random(SEED).randint(50, 200)  # of the ~300 coupons the second one issues
        cluster.processes[0].start()
        cluster.processes[1].start(**{KILL_AFTER_COUPON_ENV: str(dies_after)})
        for replica in cluster.processes:
            await replica.serving()
        await http_channel(cluster.api, tenant, f"{peer_url}/hook")
        reminder = await reminder_template(cluster.api, tenant)
        first = await coupon_template(api, tenant, "5元无门槛")
        second = await coupon_template(api, tenant, "10元无门槛")
        tag = await a_tag(api, tenant)
        journey = uuid.UUID(
            await install_journey(cluster.url, tenant.tenant_id, five_effects(first, second, reminder, tag))
        )

        run = uuid.uuid4().hex[:6]
        emails = [f"twice{index}-{run}@shop.example" for index in range(CUSTOMERS)]
        customer_ids = await consented_customers(api, tenant, emails)
        email_of = dict(zip(customer_ids, emails, strict=True))
        consents = "SELECT count(*) AS n FROM consents WHERE tenant_id = $1 AND channel = 'email' AND granted"
        await waiting_for(
            lambda: count(cluster, consents, uuid.UUID(tenant.tenant_id)),
            lambda n: n == CUSTOMERS,
            60,
            "consents kept by the replicas",
        )
        await add_to_cart_all(api, tenant, customer_ids)
        waiting = "SELECT count(*) AS n FROM journey_instances WHERE journey_id = $1 AND cursor = 'steps[1]'"
        await waiting_for(
            lambda: count(cluster, waiting, journey), lambda n: n == CUSTOMERS, 60, "instances waiting"
        )
        claims_before = [sum(map(int, CLAIMED.findall(r.log()))) for r in cluster.processes]

        move_clock(cluster.clock_file, 2 * 3600)
        assert await cluster.processes[1].exit_code() == -9, cluster.processes[1].tail()
        cluster.processes[1].start()
        await cluster.processes[1].serving()
        active = "SELECT count(*) AS n FROM journey_instances WHERE journey_id = $1 AND status = 'active'"
        await waiting_for(lambda: count(cluster, active, journey), lambda n: n == 0, 120, "active instances")
        unsent = (
            "SELECT count(*) AS n FROM messages WHERE tenant_id = $1 AND status IN ('queued', 'deferred')"
        )
        await waiting_for(
            lambda: count(cluster, unsent, uuid.UUID(tenant.tenant_id)), lambda n: n == 0, 60, "unsent"
        )
        assert all(r.running() for r in cluster.processes)
        claims_after = [sum(map(int, CLAIMED.findall(r.log()))) for r in cluster.processes]

        instances = await cluster.rows(
            "SELECT instance_id, customer_id, status FROM journey_instances WHERE journey_id = $1", journey
        )
        ran = await cluster.rows(
            "SELECT instance_id, path, kind, outcome, coupon_code FROM journey_steps WHERE journey_id = $1",
            journey,
        )
        messages = await cluster.rows(
            "SELECT message_id, customer_id, status, body, dedupe_key FROM messages "
            "WHERE tenant_id = $1 AND sender = 'journey'",
            uuid.UUID(tenant.tenant_id),
        )
        coupons = {
            template: await coupons_by_customer(database_urls["loyalty"], tenant, template)
            for template in (first, second)
        }

    everyone = set(customer_ids)
    assert len(instances) == CUSTOMERS
    assert {i["status"] for i in instances} == {"completed"}
    customer_of = {i["instance_id"]: str(i["customer_id"]) for i in instances}

    # the ledger: each instance ran each path once
    assert len({(r["instance_id"], r["path"]) for r in ran}) == len(ran) == CUSTOMERS * len(PATHS)
    paths: dict[str, set[str]] = {}
    for row in ran:
        paths.setdefault(customer_of[row["instance_id"]], set()).add(row["path"])
    assert paths == {c: PATHS for c in everyone}
    outcomes = Counter((r["path"], r["outcome"]) for r in ran)
    assert outcomes == Counter(
        {
            ("steps[0]", "waited"): CUSTOMERS,
            ("steps[1]", "issued"): CUSTOMERS,
            ("steps[2]", "queued"): CUSTOMERS,
            ("steps[3]", "issued"): CUSTOMERS,
            ("steps[4]", "queued"): CUSTOMERS,
            ("steps[5]", "tagged"): CUSTOMERS,
        }
    )
    code = {(customer_of[r["instance_id"]], r["path"]): r["coupon_code"] for r in ran if r["coupon_code"]}

    # loyalty: exactly one coupon of each template per customer, the one the ledger recorded
    for template, path in ((first, "steps[1]"), (second, "steps[3]")):
        held = coupons[template]
        assert {c: [h["code"] for h in held[c]] for c in held} == {c: [code[(c, path)]] for c in everyone}

    # notify: one message per send step per customer, each carrying its step's coupon
    assert Counter(str(m["customer_id"]) for m in messages) == Counter(dict.fromkeys(everyone, 2))
    assert {m["status"] for m in messages} == {"sent"}
    for m in messages:
        step = "steps[1]" if m["dedupe_key"].endswith(":steps[2]") else "steps[3]"
        assert code[(str(m["customer_id"]), step)] in m["body"]

    # the provider: one delivery per message, two per customer
    assert peer.bad_signatures == 0
    assert set(peer.received) == {str(m["message_id"]) for m in messages}
    assert Counter(d["to"] for d in peer.received.values()) == Counter({email_of[c]: 2 for c in everyone})

    # both replicas claimed part of the due instances
    shares = [after - before for before, after in zip(claims_before, claims_after, strict=True)]
    assert all(share > 0 for share in shares), shares
    assert sum(shares) > CUSTOMERS, shares  # the killed replica's instances were claimed again
    print(f"\njourney replicas: claims after the clock moved per replica = {shares}, kill at {dies_after}")

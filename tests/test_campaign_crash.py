"""Issue 14: a 2,000-recipient campaign, A/B 1:1 with a 10 % holdout, survives two SIGKILLs of notify
and ends with exactly one message per recipient in a variant and one delivery per consenting one.

The audience is real: 2,000 customers created by batches of a custom event carrying their e-mail
identity, a saved segment on that event computed by scoring, consent granted through the API to 90 %
(5 % never asked, 5 % refused). Notify runs as a subprocess on its own database
(``journey_processes``) with small planning batches (100) and a 2-second campaign lease; e-mail goes
by provider ``http`` to a local peer that verifies each signature and keeps one copy per message id.

- Kill 1, during planning: the fault hook SIGKILLs notify inside its 7th planning transaction, after
  the batch's messages were inserted and the cursor advanced and before the commit. Both must be
  rolled back together: the cursor stays at 600 and no message exists past it.
- Kill 2, during sending: once run 2 has planned the rest, the peer SIGKILLs notify on the next request
  it takes, before answering. That round's messages are sent again after the restart with the same
  idempotency key, which the peer drops; a message is sent again only when a kill left it in flight.
- Run 3 has no fault and finishes the campaign.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notify.fault_injection import KILL_BEFORE_PLANNED_ENV, before_planned_fault
from services.runtime.server import ServiceServer
from tests.conftest import TenantKey
from tests.journey_processes import SECRET, NotifyCluster, bounded, http_channel, notify_cluster, patiently
from tests.journey_processes import waiting_for as waited
from tests.notify_peers import HttpPeer, serve
from tests.support import PostgresServer
from tests.test_campaign_sending import insert_campaign

CUSTOMERS = 2_000
BATCH = 100
KILL_IN_BATCH = 7
"""The planning transaction the first kill lands in: six batches (600 positions) committed before it."""

AUDIENCE_CALL = 200
"""Events a call when creating the audience (each creates a customer: larger calls time out)."""

HOLDOUT = 10.0
SHARE_BAND = 3.5
"""Percentage points a 45 % group may stray at 2,000 recipients (about three standard deviations)."""
HOLDOUT_BAND = 2.5
"""The same for the 10 % holdout (its standard deviation is 0.67 point: 3.7 of them)."""


class SendTrap:
    """Wraps the peer: once ``armed`` (planning is over), the next request is recorded and notify is
    SIGKILLed before the answer goes back — the provider took it and notify never heard back, and
    neither did it for the rest of that delivery round, answered or not."""

    def __init__(self, peer: HttpPeer) -> None:
        self.peer = peer
        self.kill: Callable[[], None] = lambda: None
        self.armed = False
        self.held: set[str] = set()
        self.fired = False

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        answer = await self.peer.hook(request)
        if self.armed and not self.fired:
            self.fired = True
            self.held.add(request.headers.get("webhook-id", ""))
            self.kill()
        return answer


def mark(phases: dict[str, float], name: str, started: float) -> None:
    """Note when a phase ended, and say so at once (``-s``): a run that hangs shows how far it got."""
    phases[name] = round(time.monotonic() - started, 1)
    print(f"\ncampaign crash: {name} after {phases[name]} s", flush=True)


async def email_template(api: httpx.AsyncClient, tenant: TenantKey, variant: str) -> str:
    body = {
        "name": f"drill {variant} {uuid.uuid4().hex[:6]}",
        "channel": "email",
        "purpose": "marketing",
        "subject": f"冬季上新 {variant}",
        "body": f"variant {variant}",
    }
    created = await api.post("/v1/notify/templates", json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["template_id"])


async def create_audience(api: httpx.AsyncClient, tenant: TenantKey, kind: str, emails: list[str]) -> None:
    """One ``kind`` event per address, ``AUDIENCE_CALL`` a call: each unknown address becomes a
    customer. A call the loaded machine let time out is sent again; its event ids make that safe."""
    now = datetime.now(UTC).isoformat()
    for start in range(0, len(emails), AUDIENCE_CALL):
        events = [
            {
                "event_id": f"drill-{address}",
                "type": kind,
                "occurred_at": now,
                "identities": [{"type": "email", "value": address}],
            }
            for address in emails[start : start + AUDIENCE_CALL]
        ]
        answer = await patiently(
            partial(api.post, "/v1/events", json={"events": events}, headers=tenant.headers)
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] + answer.json()["duplicates"] == len(events), answer.text


async def segment_of(api: httpx.AsyncClient, tenant: TenantKey, kind: str, size: int) -> str:
    """A saved segment of everyone with a ``kind`` event this week, created once scoring counts
    ``size`` of them (creating it computes its members in one pass rather than one by one)."""
    condition = {"event": kind, "within": "P7D"}

    async def preview() -> int:
        answer = await api.post("/v1/segments/preview", json={"condition": condition}, headers=tenant.headers)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["count"])

    await waited(preview, lambda n: n == size, 90, "customers scoring knows of")
    body = {"name": f"drill {kind}", "condition": condition}
    created = await api.post("/v1/segments", json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["segment_id"])


async def member_ids(api: httpx.AsyncClient, tenant: TenantKey, segment_id: str) -> list[str]:
    """Every member of the segment, page by page."""
    found: list[str] = []
    cursor = ""
    while True:
        query = "limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = await api.get(f"/v1/segments/{segment_id}/members?{query}", headers=tenant.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        found += [str(item["customer_id"]) for item in body["items"]]
        cursor = body.get("next_cursor") or ""
        if not cursor:
            return found


async def set_consents(api: httpx.AsyncClient, tenant: TenantKey, answers: dict[str, bool]) -> None:
    """E-mail marketing consent granted or refused through the API, one customer a call."""

    def put(customer_id: str, granted: bool) -> Callable[[], Awaitable[httpx.Response]]:
        body = {"channel": "email", "purpose": "marketing", "granted": granted}
        path = f"/v1/customers/{customer_id}/consents"
        return lambda: patiently(lambda: api.put(path, json=body, headers=tenant.headers))

    answered = await bounded([put(c, granted) for c, granted in answers.items()], limit=8)
    assert all(a.status_code == 200 for a in answered), [a.text for a in answered if a.status_code != 200]


async def count(cluster: NotifyCluster, sql: str, *args: Any) -> int:
    return int((await cluster.rows(sql, *args))[0]["n"])


async def campaign(cluster: NotifyCluster, campaign_id: uuid.UUID) -> dict[str, Any]:
    rows = await cluster.rows("SELECT * FROM campaigns WHERE campaign_id = $1", campaign_id)
    return rows[0]


async def watch_planning(cluster: NotifyCluster, campaign_id: uuid.UUID, trap: SendTrap) -> None:
    """Arm the trap once the campaign has left planning."""
    await waited(
        lambda: campaign(cluster, campaign_id), lambda c: c["phase"] != "planning", 60, "planning over"
    )
    trap.armed = True


async def unrendered(cluster: NotifyCluster, campaign_id: uuid.UUID) -> int:
    return await count(
        cluster,
        "SELECT count(*) AS n FROM messages WHERE sender_ref = $1 AND render_at IS NOT NULL",
        str(campaign_id),
    )


async def in_flight(cluster: NotifyCluster, campaign_id: uuid.UUID) -> set[str]:
    """Ids of the campaign's messages claimed for a provider call whose outcome is not recorded."""
    rows = await cluster.rows(
        "SELECT message_id FROM messages WHERE sender_ref = $1 AND in_flight", str(campaign_id)
    )
    return {str(r["message_id"]) for r in rows}


async def rows_by_position(cluster: NotifyCluster, campaign_id: uuid.UUID) -> list[dict[str, Any]]:
    return await cluster.rows(
        """
        SELECT r.position, r.customer_id, r.group_name, r.message_id AS planned_id, m.message_id,
               m.status, m.reason, m.render_at
        FROM campaign_recipients AS r LEFT JOIN messages AS m ON m.message_id = r.message_id
        WHERE r.campaign_id = $1 ORDER BY r.position
        """,
        campaign_id,
    )


@pytest.mark.timeout(300)
async def test_a_campaign_of_two_thousand_survives_two_sigkills_with_one_message_each(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    services: dict[str, ServiceServer],
    postgres: PostgresServer,
    database_urls: dict[str, str],
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    phases: dict[str, float] = {}
    peer = HttpPeer(secret=SECRET)
    trap = SendTrap(peer)
    tenant_id = uuid.UUID(tenant.tenant_id)
    async with (
        serve(trap.app()) as peer_url,
        notify_cluster(
            1,
            tenant,
            services,
            postgres,
            database_urls,
            tmp_path,
            PATRON_NOTIFY_CAMPAIGN_BATCH=str(BATCH),
            PATRON_NOTIFY_CAMPAIGN_LEASE_SECONDS="2",
            PATRON_NOTIFY_CAMPAIGN_IDLE_SECONDS="0.2",
            PATRON_NOTIFY_CAMPAIGN_RENDER_LEASE_SECONDS="3",
        ) as cluster,
    ):
        notify = cluster.processes[0]
        notify.start(**{KILL_BEFORE_PLANNED_ENV: str(KILL_IN_BATCH)})
        await notify.serving()
        await http_channel(cluster.api, tenant, f"{peer_url}/hook")
        first = await email_template(cluster.api, tenant, "A")
        second = await email_template(cluster.api, tenant, "B")

        run = uuid.uuid4().hex[:8]
        kind = f"custom.drill_{run}"
        await create_audience(api, tenant, kind, [f"d{i}-{run}@shop.example" for i in range(CUSTOMERS)])
        mark(phases, "events", started)
        segment = await segment_of(api, tenant, kind, CUSTOMERS)
        people = await waited(
            lambda: member_ids(api, tenant, segment), lambda m: len(m) == CUSTOMERS, 90, "segment members"
        )
        mark(phases, "audience", started)
        answers = {c: i % 20 != 13 for i, c in enumerate(sorted(people)) if i % 20 != 3}
        consenting = {c for c, granted in answers.items() if granted}
        await set_consents(api, tenant, answers)
        kept = "SELECT count(*) AS n FROM consents WHERE tenant_id = $1 AND channel = 'email'"
        await waited(lambda: count(cluster, kept, tenant_id), lambda n: n == len(answers), 60, "consents")
        mark(phases, "consents", started)

        campaign_id = uuid.UUID(
            await insert_campaign(
                cluster.url, tenant.tenant_id, segment, [("A", first, 1), ("B", second, 1)], HOLDOUT
            )
        )
        # kill 1: inside the 7th planning transaction
        assert await notify.exit_code() == -9, notify.tail()
        mark(phases, "kill 1", started)
        at_kill_1 = await campaign(cluster, campaign_id)
        rows = await rows_by_position(cluster, campaign_id)
        assert (at_kill_1["phase"], at_kill_1["planned_through"]) == ("planning", BATCH * (KILL_IN_BATCH - 1))
        planned = [r for r in rows if r["message_id"] is not None]
        assert planned, "nothing was committed before the kill"
        assert max(r["position"] for r in planned) <= at_kill_1["planned_through"], (
            "a message past the cursor"
        )
        flying_1 = await in_flight(cluster, campaign_id)
        in_variants = [r for r in rows if r["planned_id"] is not None]
        assert len(planned) == sum(1 for r in in_variants if r["position"] <= at_kill_1["planned_through"])

        # kill 2: from the peer, after planning, with a request taken and not answered
        trap.kill = notify.kill
        watcher = asyncio.create_task(watch_planning(cluster, campaign_id, trap))
        notify.start()
        await notify.serving(may_die=True)  # the trap may spring before the health check answers
        await watcher
        assert await notify.exit_code() == -9, notify.tail()  # the next request after planning
        mark(phases, "kill 2", started)
        at_kill_2 = await campaign(cluster, campaign_id)
        left_unrendered = await unrendered(cluster, campaign_id)
        flying_2 = await in_flight(cluster, campaign_id)
        received_at_kill_2 = len(peer.received)

        notify.start()
        await notify.serving()
        done = await waited(
            lambda: campaign(cluster, campaign_id), lambda c: c["status"] == "completed", 120, "completion"
        )
        mark(phases, "completed", started)
        rows = await rows_by_position(cluster, campaign_id)
        messages = await cluster.rows(
            "SELECT message_id, customer_id, status, reason, sender_ref FROM messages WHERE tenant_id = $1",
            tenant_id,
        )

    # the campaign row and its audience
    assert (done["recipients"], done["planned_through"], done["phase"]) == (CUSTOMERS, CUSTOMERS, None)
    assert sorted(str(r["customer_id"]) for r in rows) == sorted(people)
    groups = Counter(r["group_name"] for r in rows)
    assert set(groups) == {"A", "B", "holdout"}
    assert done["group_sizes"] == dict(groups)
    for variant in ("A", "B"):
        assert abs(100 * groups[variant] / CUSTOMERS - 45) <= SHARE_BAND, groups
    assert abs(100 * groups["holdout"] / CUSTOMERS - HOLDOUT) <= HOLDOUT_BAND, groups

    # notify: exactly one message per recipient in a variant, none for the holdout
    ours = [m for m in messages if m["sender_ref"] == str(campaign_id)]
    per_customer = Counter(str(m["customer_id"]) for m in ours)
    variants = {str(r["customer_id"]) for r in rows if r["group_name"] != "holdout"}
    holdout = {str(r["customer_id"]) for r in rows if r["group_name"] == "holdout"}
    assert per_customer == Counter(dict.fromkeys(variants, 1))
    assert all(
        r["message_id"] is None and r["planned_id"] is None for r in rows if r["group_name"] == "holdout"
    )
    assert all(r["message_id"] == r["planned_id"] for r in rows if r["group_name"] != "holdout")
    status_of = {str(r["customer_id"]): (r["status"], r["reason"]) for r in rows if r["message_id"]}
    eligible = variants & consenting
    assert {c: status_of[c] for c in eligible} == dict.fromkeys(eligible, ("sent", None))
    assert {c: status_of[c] for c in variants - consenting} == dict.fromkeys(
        variants - consenting, ("suppressed", "no_consent")
    )

    # the provider: one delivery per eligible recipient, by message id and by address
    assert peer.bad_signatures == 0
    message_of = {str(r["customer_id"]): str(r["message_id"]) for r in rows if r["message_id"]}
    assert set(peer.received) == {message_of[c] for c in eligible}
    assert set(peer.idempotency_keys) == set(peer.received)  # every attempt carried its message id
    addresses = Counter(document["to"] for document in peer.received.values())
    assert len(addresses) == len(eligible)
    assert set(addresses.values()) == {1}
    assert not {message_of[c] for c in variants - consenting} & set(peer.received)
    assert not holdout & set(per_customer), "a message for someone held out"
    retried = {key for key, n in peer.attempts.items() if n > 1}
    assert retried <= flying_1 | flying_2, "a message sent again that no kill left in flight"
    assert trap.held, "the second kill found no request to land on"
    assert trap.held <= flying_2, "a request never answered was recorded"

    print(
        f"\ncampaign crash: groups={dict(groups)} eligible={len(eligible)} "
        f"at kill 1 planned_through={at_kill_1['planned_through']} messages={len(planned)}; "
        f"at kill 2 phase={at_kill_2['phase']} received={received_at_kill_2} "
        f"in flight={len(flying_2)} (at kill 1: {len(flying_1)}) unrendered={left_unrendered}; "
        f"provider retries={len(retried)} "
        f"phases={phases}"
    )


def test_the_planning_fault_is_refused_outside_development_and_needs_a_count() -> None:
    asked = {KILL_BEFORE_PLANNED_ENV: "3"}
    assert before_planned_fault(False, asked) is None  # production: never, whatever the environment
    assert before_planned_fault(True, {}) is None
    assert before_planned_fault(True, {KILL_BEFORE_PLANNED_ENV: "0"}) is None
    assert before_planned_fault(True, {KILL_BEFORE_PLANNED_ENV: "soon"}) is None
    assert before_planned_fault(True, asked) is not None

"""Benchmark: a campaign sent end to end through the REST API to the local ``http`` provider (issue 14
item 6).

Against a system already running (``patron up``); prints one JSON object. Targets (DESIGN.md): message
delivery to a provider (local fake, 50 ms latency) **>= 2,000 messages/s**; campaign fan-out
**>= 10,000 messages/s** (planning; ``bench.campaigns`` measures it at a million on a database, here it
is seen through the API at the size of the world).

The workload (the defaults):

- a tenant (kept in ``--world`` and used again by later runs): ``--customers`` 20,000 customers made by
  ``POST /v1/customers/identify`` (an e-mail identity, nickname, zone UTC and a city of the world's own,
  64 calls in flight; the events batch would make them 500 a call, but events carry no attributes),
  90 % of them (not every tenth) granted e-mail marketing consent (one PUT each, 64 at once: there is
  no batch consent API); two marketing e-mail templates (A and B); a saved segment on the city;
- every run: the e-mail channel on provider ``http`` at a peer started out of process
  (``tests.notify_peers http``, ``--peer-latency-ms`` 50, ``rate_per_second`` 5,000, so the channel's
  rate does not bind); policy: no cap, no quiet hours; the bench waits until the segment has every
  customer and notify holds every consent;
- the campaign: A/B 45/45 and a 10 % holdout, ``POST /v1/campaigns`` then ``/start``, polled
  (``GET /v1/campaigns/{id}``) until ``completed``, a poll answered 502/503/504 (notify restarting
  during a kill drill) asked again and counted as ``unanswered``; then ``GET .../report`` three times.

Figures: /start → snapshot (``snapshot_at``), → every variant recipient planned, → completed; planning
rate (messages committed per second after the snapshot, from the messages' ``created_at``); delivery
rate (the peer's distinct receipts over first → last receipt); end to end (sent over /start →
``completed_at``); the peer's counts (duplicates must be 0); CPU per process (gateway, notify,
PostgreSQL, the peer, this bench) and the load average.

    python -m bench.campaign_sending --url http://127.0.0.1:38080 \\
        --world bench-results/campaign-sending-world.json --output bench-results/campaign-sending.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

if not __package__:  # run as a script: make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    DEFAULT_URL,
    BenchError,
    create_tenant,
    emit_report,
    fast_httpcore,
    load_admin_token,
    log,
    machine_info,
    positive_int,
)
from bench._cpu import process_cpu_s, system_cpu
from bench._journey_world import expect, retried
from bench._notify_world import NotifyReader, Peers, notify_database_url, start_peers
from bench.ingest import ProcessCpu
from bench.journeys import until

TARGETS = {
    "delivery": "message delivery to a provider (local fake, 50 ms latency) >= 2,000 messages/s (DESIGN.md)",
    "fan_out": "campaign fan-out >= 10,000 messages/s (DESIGN.md; the planning figure)",
}
HOLDOUT_PERCENT = 10
CONSENT_EVERY = 10
"""Every customer but each tenth is granted consent: 90 %."""


@dataclass
class World:
    """A tenant made once and used by every later run given the same ``--world`` file."""

    tenant_id: str
    api_key: str
    city: str
    customers: list[str]
    consents: int
    templates: dict[str, str]
    segment_id: str

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> World:
        return cls(**json.loads(path.read_text()))


async def in_parallel(count: int, concurrency: int, what: str, one: Any) -> float:
    """``await one(i)`` for every i below ``count``, ``concurrency`` at once; answers the seconds."""
    counter = itertools.count()
    started = time.perf_counter()

    async def worker() -> None:
        while (i := next(counter)) < count:
            await one(i)
            if i and i % 5_000 == 0:
                log(f"{what}: {i:,} ({i / (time.perf_counter() - started):,.0f}/s)")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def make_world(api: httpx.AsyncClient, tenant_id: str, api_key: str, options: Any) -> World:
    """Templates, customers (identify, with attributes), consents and the city's saved segment."""
    templates = {}
    for name in ("A", "B"):
        document = {
            "name": f"bench campaign {name}",
            "channel": "email",
            "purpose": "marketing",
            "subject": f"{name}: news for {{{{ customer.nickname }}}}",
            "body": f"Hi {{{{ customer.nickname }}}}, offer {name} is yours this week.",
        }
        created = expect(await api.post("/v1/notify/templates", json=document), 201, "POST template")
        templates[name] = str(created["template_id"])
    city = f"Bench-{tenant_id[:8]}"
    ids = [""] * options.customers

    async def identify(i: int) -> None:
        body = {
            "identities": [{"type": "email", "value": f"c{i}@bench.example"}],
            "attributes": {"nickname": f"N{i}", "timezone": "UTC", "city": city},
        }
        answer = await retried(api, "POST", "/v1/customers/identify", body)
        ids[i] = str(expect(answer, 200, "identify")["customer_id"])

    seconds = await in_parallel(options.customers, options.setup_concurrency, "customers", identify)
    log(f"created {options.customers:,} customers in {seconds:.1f} s")
    granted = [c for i, c in enumerate(ids) if i % CONSENT_EVERY]
    consent = {"channel": "email", "purpose": "marketing", "granted": True, "source": "bench"}

    async def grant(i: int) -> None:
        answer = await retried(api, "PUT", f"/v1/customers/{granted[i]}/consents", consent)
        expect(answer, 200, "PUT consent")

    seconds = await in_parallel(len(granted), options.setup_concurrency, "consents", grant)
    log(f"granted {len(granted):,} consents in {seconds:.1f} s")
    segment = {"name": f"in {city}", "condition": {"field": "attributes.city", "op": "eq", "value": city}}
    segment_id = str(expect(await api.post("/v1/segments", json=segment), 201, "POST segment")["segment_id"])
    return World(tenant_id, api_key, city, ids, len(granted), templates, segment_id)


async def configure(api: httpx.AsyncClient, peers: Peers, rate: int) -> None:
    """The e-mail channel at this run's peer (its secret is new every run); no cap, no quiet hours."""
    settings = {"url": f"{peers.urls['email']}/hook", "secret": peers.secret, "rate_per_second": rate}
    answer = await api.put("/v1/notify/channels/email", json={"provider": "http", "settings": settings})
    expect(answer, 200, "PUT channel email")
    policy: dict[str, Any] = {"frequency_caps": [], "quiet_hours": None}
    expect(await api.put("/v1/notify/policy", json=policy), 200, "PUT policy")


def stamp(text: str | None) -> float | None:
    """An API time (ISO 8601) as epoch seconds."""
    return datetime.fromisoformat(text).timestamp() if text else None


_MESSAGE_TIMES = """
SELECT count(*) AS planned, extract(epoch FROM min(m.created_at))::float8 AS first_created,
       extract(epoch FROM max(m.created_at))::float8 AS last_created,
       extract(epoch FROM min(m.sent_at))::float8 AS first_sent,
       extract(epoch FROM max(m.sent_at))::float8 AS last_sent
FROM campaign_recipients AS r JOIN messages AS m ON m.message_id = r.message_id AND m.tenant_id = r.tenant_id
WHERE r.tenant_id = $1 AND r.campaign_id = $2
"""
_STATUSES = """
SELECT m.status || coalesce(':' || m.reason, '') AS status, count(*) AS n
FROM campaign_recipients AS r JOIN messages AS m ON m.message_id = r.message_id AND m.tenant_id = r.tenant_id
WHERE r.tenant_id = $1 AND r.campaign_id = $2 GROUP BY 1 ORDER BY 1
"""


class Usage:
    """CPU seconds of the system's processes, the peer and this bench, and the machine's busy share."""

    def __init__(self, home: Path, peers: Peers) -> None:
        self.system = ProcessCpu(home)
        self.peers = peers

    def sample(self) -> dict[str, Any]:
        cpu = self.system.sample()
        cpu["peer"] = sum(process_cpu_s(pid) or 0.0 for pid in self.peers.pids())
        cpu["bench"] = time.process_time()
        return {"at": time.perf_counter(), "cpu": cpu, "machine": system_cpu()}

    @staticmethod
    def between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        """% of one core per process over the interval, and the machine's busy % of all cores."""
        wall = after["at"] - before["at"]
        used = {
            name: round(100 * (after["cpu"][name] - before["cpu"].get(name, 0.0)) / wall, 1)
            for name in sorted(after["cpu"])
        }
        result: dict[str, Any] = {"seconds": round(wall, 1), "pct_of_one_core": used}
        if before["machine"] and after["machine"]:
            busy = after["machine"][0] - before["machine"][0]
            total = after["machine"][1] - before["machine"][1]
            result["machine_busy_pct_of_all_cores"] = round(100 * busy / total, 1) if total else None
        return result


async def send_campaign(
    options: argparse.Namespace, api: httpx.AsyncClient, side: httpx.AsyncClient, peers: Peers, world: World
) -> dict[str, Any]:
    """Create and start the campaign; follow it to ``completed``; its times, rates and CPU."""
    variants = [{"name": n, "template_id": t, "weight": 1} for n, t in sorted(world.templates.items())]
    body = {
        "name": f"bench sending {uuid.uuid4().hex[:8]}",
        "segment_id": world.segment_id,
        "variants": variants,
        "holdout_percent": HOLDOUT_PERCENT,
    }
    campaign_id = str(expect(await api.post("/v1/campaigns", json=body), 201, "POST campaign")["campaign_id"])
    usage = Usage(Path(options.home), peers)
    load = [os.getloadavg()]
    before = usage.sample()
    started = time.time()
    view = expect(await api.post(f"/v1/campaigns/{campaign_id}/start"), 200, "start")
    start_call_ms = round(1000 * (time.time() - started), 1)
    log(f"campaign {campaign_id} started ({view['status']}) ...")
    timeline: list[list[Any]] = []
    poll_ms: list[float] = []
    seen: dict[str, float] = {}
    planned_usage: dict[str, Any] | None = None
    deadline = time.perf_counter() + options.timeout
    unanswered = 0
    while True:
        asked = time.perf_counter()
        answer = await api.get(f"/v1/campaigns/{campaign_id}")
        if answer.status_code in (502, 503, 504):  # notify restarting (a kill drill): ask again
            unanswered += 1
            if time.perf_counter() > deadline:
                raise BenchError(f"notify unavailable for {options.timeout:.0f} s")
            await asyncio.sleep(options.poll)
            continue
        view = expect(answer, 200, "GET campaign")
        poll_ms.append(1000 * (time.perf_counter() - asked))
        now = time.time() - started
        p = view["progress"]
        timeline.append([round(now, 1), view["status"], p["planned"], p["sent"], p["suppressed"]])
        load.append(os.getloadavg())
        if view["snapshot_at"] and "snapshot" not in seen:
            seen["snapshot"] = now
        variant_recipients = p["recipients"] - p["holdout"] - p["global_control"]
        if seen.get("snapshot") and "planned" not in seen and p["planned"] >= variant_recipients:
            seen["planned"] = now
            planned_usage = usage.sample()
        if view["status"] in ("completed", "cancelled"):
            seen["completed"] = now
            break
        if time.perf_counter() > deadline:
            raise BenchError(f"campaign not completed after {options.timeout:.0f} s: {view['progress']}")
        await asyncio.sleep(options.poll)
    after = usage.sample()
    log(f"campaign {view['status']} after {seen['completed']:.1f} s: {view['progress']}")
    connection = await asyncpg.connect(
        options.notify_database_url or notify_database_url(Path(options.home)),
        server_settings={"default_transaction_read_only": "on"},
    )
    try:
        ids = (uuid.UUID(world.tenant_id), uuid.UUID(campaign_id))
        times = dict(await connection.fetchrow(_MESSAGE_TIMES, *ids) or {})
        statuses = {r["status"]: int(r["n"]) for r in await connection.fetch(_STATUSES, *ids)}
    finally:
        await connection.close()
    peer = (await peers.stats(side))["email"]
    p = view["progress"]
    server_start = stamp(view["started_at"]) or started
    snapshot_at = stamp(view["snapshot_at"]) or server_start
    completed_at = stamp(view["completed_at"]) or (started + seen["completed"])
    received = int(peer["received"])
    delivery_s = (peer["last_at"] - peer["first_at"]) if peer["first_at"] else None
    planning_s = (times["last_created"] - snapshot_at) if times.get("last_created") else None
    return {
        "campaign_id": campaign_id,
        "status": view["status"],
        "progress": p,
        "messages_by_status": statuses,
        "start_call_ms": start_call_ms,
        "seconds_from_start": {
            "snapshot_taken": round(snapshot_at - server_start, 2),
            "first_message_planned": round(times["first_created"] - server_start, 2)
            if times.get("first_created")
            else None,
            "every_recipient_planned": round(times["last_created"] - server_start, 2)
            if times.get("last_created")
            else None,
            "every_recipient_planned_seen_by_poll": round(seen["planned"], 1) if "planned" in seen else None,
            "first_provider_receipt": round(peer["first_at"] - server_start, 2) if peer["first_at"] else None,
            "last_provider_receipt": round(peer["last_at"] - server_start, 2) if peer["last_at"] else None,
            "completed": round(completed_at - server_start, 2),
            "completed_seen_by_poll": round(seen["completed"], 1),
        },
        "planning_messages_per_s": round(int(times["planned"]) / planning_s, 1) if planning_s else None,
        "planning_messages_per_s_first_to_last": round(
            int(times["planned"]) / (times["last_created"] - times["first_created"]), 1
        )
        if times.get("last_created") and times["last_created"] > times["first_created"]
        else None,
        "delivered_messages_per_s": round(received / delivery_s, 1) if delivery_s else None,
        "end_to_end_messages_per_s": round(p["sent"] / (completed_at - server_start), 1),
        "peer": peer,
        "sent_equals_received": p["sent"] == received,
        "cpu_start_to_planned": Usage.between(before, planned_usage) if planned_usage else None,
        "cpu_planned_to_completed": Usage.between(planned_usage, after) if planned_usage else None,
        "cpu_start_to_completed": Usage.between(before, after),
        "cpu_ms_per_sent_message": {
            name: round(1000 * (after["cpu"][name] - before["cpu"].get(name, 0.0)) / max(1, p["sent"]), 3)
            for name in sorted(after["cpu"])
        },
        "load_average": {"at_start": load[0], "max_1m": max(x[0] for x in load), "at_end": load[-1]},
        "poll_ms": {"count": len(poll_ms), "max": round(max(poll_ms), 1), "unanswered": unanswered},
        "timeline": timeline[:: max(1, len(timeline) // 60)],
    }


async def time_report(api: httpx.AsyncClient, campaign_id: str) -> dict[str, Any]:
    """``GET /v1/campaigns/{id}/report`` three times: how long each took, and the groups' counts."""
    took: list[float] = []
    body: dict[str, Any] = {}
    for _ in range(3):
        asked = time.perf_counter()
        body = expect(await api.get(f"/v1/campaigns/{campaign_id}/report"), 200, "GET report")
        took.append(round(1000 * (time.perf_counter() - asked), 1))
    keep = ("group", "name", "recipients", "sent", "delivered", "converted")
    groups = [{k: g[k] for k in keep if k in g} for g in body.get("groups", [])]
    return {"ms_each_of_3": took, "groups": groups}


async def run(options: argparse.Namespace) -> dict[str, Any]:
    fast_httpcore()
    world: World | None = None
    if options.world is not None and options.world.exists():
        world = World.load(options.world)
        if len(world.customers) != options.customers:
            raise BenchError(f"{options.world} has {len(world.customers):,} customers; pass another --world")
    if world is None:
        tenant_id, api_key = create_tenant(options.url, load_admin_token(options.admin_token), "bench-send")
    else:
        tenant_id, api_key = world.tenant_id, world.api_key
    report: dict[str, Any] = {"benchmark": "campaign_sending", "tenant_id": tenant_id}
    headers = {"Authorization": f"Bearer {api_key}"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=2.0)
    async with (
        start_peers(("email",), options.peer_port, options.peer_latency_ms) as peers,
        httpx.AsyncClient(base_url=options.url, headers=headers, timeout=60, limits=limits) as api,
        httpx.AsyncClient(timeout=60) as side,
    ):
        await configure(api, peers, options.rate_per_second)
        report["world_reused"] = world is not None
        if world is None:
            log(f"making the world: {options.customers:,} customers, 90 % with e-mail consent ...")
            started = time.perf_counter()
            world = await make_world(api, tenant_id, api_key, options)
            report["setup_s"] = round(time.perf_counter() - started, 1)
            if options.world is not None:
                world.save(options.world)
        ready = world

        async def segment_full() -> bool:
            segment = expect(await api.get(f"/v1/segments/{ready.segment_id}"), 200, "GET segment")
            return int(segment.get("count") or 0) >= len(ready.customers)

        reader = await NotifyReader.open(
            options.notify_database_url or notify_database_url(Path(options.home)), tenant_id
        )
        try:

            async def consents_kept() -> bool:
                return await reader.granted_consents() >= ready.consents

            report["segment_full_after_s"] = round(await until("segment", options.timeout, segment_full), 1)
            report["consents_kept_after_s"] = round(
                await until("consents", options.timeout, consents_kept), 1
            )
        finally:
            await reader.close()
        log("segment full, consents kept; settling 5 s ...")
        await asyncio.sleep(5.0)
        report["campaign"] = await send_campaign(options, api, side, peers, world)
        report["report"] = await time_report(api, report["campaign"]["campaign_id"])
    return report


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--admin-token", default=None)
    parser.add_argument("--home", default=os.environ.get("PATRON_HOME", ".patron"))
    parser.add_argument("--notify-database-url", default=None, help="default: patron up's embedded one")
    parser.add_argument("--world", type=Path, default=None, help="keep the tenant here and use it again")
    parser.add_argument("--customers", type=positive_int, default=20_000)
    parser.add_argument("--setup-concurrency", type=positive_int, default=64)
    parser.add_argument("--peer-port", type=positive_int, default=18199)
    parser.add_argument("--peer-latency-ms", type=float, default=50.0)
    parser.add_argument("--rate-per-second", type=positive_int, default=5_000)
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between GET /v1/campaigns/{id}")
    parser.add_argument("--timeout", type=float, default=1_800.0, help="seconds allowed for each wait")
    parser.add_argument("--output", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    started = datetime.now(UTC)
    try:
        report = asyncio.run(run(options))
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    workload = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(options).items()
        if k not in ("admin_token", "output", "notify_database_url")
    }
    report = {
        **report,
        "workload": {**workload, "variants": "A/B 45/45", "holdout_percent": HOLDOUT_PERCENT},
        "targets": TARGETS,
        "machine": {**machine_info(), "load_average_at_end": os.getloadavg()},
        "started_at": started.isoformat(),
    }
    emit_report(report, options.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

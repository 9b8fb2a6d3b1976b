"""What bench/journeys.py sets up around the system: a tenant whose customers hold e-mail consent, the
e-mail channel on the ``http`` provider pointing at a local peer, the templates and the coupon
template; the journeys themselves; and a look into notify's database (instances, the step ledger)
and at the notify process (its memory).

The world is costly to make at 100,000 customers (one consent call each: there is no batch consent
API), so it can be kept in a file and used again by later runs (``--world``); every run installs
journeys of its own, so runs never see each other's instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench._common import BenchError, log
from bench._notify_world import Peers
from services.notify.domain.journey_definitions import parse_journey

EVENT_BATCH = 500
SEED_BATCH = 100
"""Customers created per call: each is new (identities resolved, customer made), so a call of 500 can
pass the gateway's 10 s deadline on a loaded machine."""
CART_SUBJECT = "Still thinking about {{ data.product }}?"
COUPON_BODY = "Your {{ data.product }} is waiting. Take 5 yuan off with {{ coupon.code }}."
PLAIN_BODY = "Your {{ data.product }} is waiting in your cart."


@dataclass
class World:
    """A tenant made once and used by every later run that is given the same ``--world`` file."""

    tenant_id: str
    api_key: str
    customers: list[str]
    templates: dict[str, str]
    coupon_template_id: str

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> World:
        return cls(**json.loads(path.read_text()))


def expect(answer: httpx.Response, status: int, what: str) -> Any:
    """The answer's JSON when its status is ``status``; else the bench stops and says why."""
    if answer.status_code != status:
        raise BenchError(f"{what} answered {answer.status_code}: {answer.text[:300]}")
    return answer.json()


async def retried(client: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    """An idempotent call, tried again after a dropped connection or a 503/504 (5 tries)."""
    for attempt in range(5):
        try:
            answer = await client.request(method, path, json=body)
        except httpx.TransportError:
            if attempt == 4:
                raise
        else:
            if answer.status_code not in (503, 504) or attempt == 4:
                return answer
        await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def configure_channel(client: httpx.AsyncClient, peers: Peers) -> None:
    """The e-mail channel on provider ``http`` at the peer (its secret is new every run); no cap, no
    quiet hours, so every send the journeys make is queued."""
    settings = {"url": f"{peers.urls['email']}/hook", "secret": peers.secret, "rate_per_second": 10_000}
    answer = await client.put("/v1/notify/channels/email", json={"provider": "http", "settings": settings})
    expect(answer, 200, "PUT channel email")
    policy: dict[str, Any] = {"frequency_caps": [], "quiet_hours": None}
    expect(await client.put("/v1/notify/policy", json=policy), 200, "PUT policy")


async def make_world(
    client: httpx.AsyncClient, tenant_id: str, api_key: str, count: int, concurrency: int
) -> World:
    """Templates, the coupon template and ``count`` customers (created by events carrying an e-mail
    identity, 500 a call), each then granted e-mail marketing consent (one PUT each)."""
    templates: dict[str, str] = {}
    for name, body in (("coupon", COUPON_BODY), ("plain", PLAIN_BODY), ("ping", PLAIN_BODY)):
        document = {
            "name": f"bench journeys {name}",
            "channel": "email",
            "purpose": "marketing",
            "subject": CART_SUBJECT,
            "body": body,
        }
        created = expect(await client.post("/v1/notify/templates", json=document), 201, "POST template")
        templates[name] = str(created["template_id"])
    coupon = {
        "name": "bench 5 yuan",
        "kind": "no_threshold",
        "discount_minor": 500,
        "valid_days": 7,
        "per_customer_limit": 1_000,
    }
    coupon_template = expect(await client.post("/v1/coupon-templates", json=coupon), 201, "POST coupon tpl")
    customers = await _create_customers(client, count)
    await _grant_consents(client, customers, concurrency)
    return World(tenant_id, api_key, customers, templates, str(coupon_template["template_id"]))


async def _create_customers(client: httpx.AsyncClient, count: int) -> list[str]:
    started = time.perf_counter()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    batches = [range(i, min(i + SEED_BATCH, count)) for i in range(0, count, SEED_BATCH)]
    slots = asyncio.Semaphore(2)

    async def one(batch: range) -> None:
        events = [
            {
                "event_id": f"seed-{i}",
                "type": "view",
                "occurred_at": stamp,
                "identities": [{"type": "email", "value": f"j{i}@bench.example"}],
            }
            for i in batch
        ]
        async with slots:
            answer = await retried(client, "POST", "/v1/events", {"events": events})
        result = expect(answer, 200, "POST /v1/events (seed)")
        if result["rejected"]:
            raise BenchError(f"seed events rejected: {result['rejected'][:3]}")

    await asyncio.gather(*(one(b) for b in batches))
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = expect(await client.get("/v1/customers", params=params), 200, "GET /v1/customers")
        ids.extend(str(c["customer_id"]) for c in page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    if len(ids) != count:
        raise BenchError(f"the tenant has {len(ids):,} customers, expected {count:,}")
    log(f"created {count:,} customers in {time.perf_counter() - started:.1f} s")
    return sorted(ids)


async def _grant_consents(client: httpx.AsyncClient, customers: Sequence[str], concurrency: int) -> None:
    started = time.perf_counter()
    queue = iter(enumerate(customers))
    body = {"channel": "email", "purpose": "marketing", "granted": True, "source": "bench"}

    async def worker() -> None:
        for i, customer in queue:
            answer = await retried(client, "PUT", f"/v1/customers/{customer}/consents", body)
            expect(answer, 200, "PUT consent")
            if i and i % 10_000 == 0:
                log(f"consents: {i:,} ({i / (time.perf_counter() - started):,.0f}/s)")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    log(f"granted {len(customers):,} consents in {time.perf_counter() - started:.1f} s")


class JourneyDb:
    """Notify's database: journeys installed as the definitions store writes them (until the
    definitions API is on every system the bench meets), and read back."""

    def __init__(self, connection: asyncpg.Connection, tenant_id: str) -> None:
        self.connection = connection
        self.tenant = uuid.UUID(tenant_id)

    @classmethod
    async def open(cls, url: str, tenant_id: str) -> JourneyDb:
        return cls(await asyncpg.connect(url), tenant_id)

    async def close(self) -> None:
        await self.connection.close()

    async def consents(self) -> int:
        query = "SELECT count(*) FROM consents WHERE tenant_id = $1 AND granted AND channel = 'email'"
        return int(await self.connection.fetchval(query, self.tenant))

    async def install(self, document: dict[str, Any]) -> uuid.UUID:
        """An active journey with its version 1 (what ``POST /v1/journeys`` + ``/activate`` write)."""
        definition = parse_journey(document)
        journey_id = uuid.uuid4()
        trigger = definition.trigger.spec
        key = str(trigger["event"]) if definition.trigger.kind == "event" else ""
        async with self.connection.transaction():
            await self.connection.execute(
                "INSERT INTO journeys (tenant_id, journey_id, name, status, version, created_at, "
                "updated_at) VALUES ($1, $2, $3, 'active', 1, now(), now())",
                self.tenant,
                journey_id,
                definition.name,
            )
            await self.connection.execute(
                "INSERT INTO journey_versions (tenant_id, journey_id, version, document, trigger_kind, "
                "trigger_key, has_goal, reentry, created_at) VALUES ($1, $2, 1, $3, $4, $5, $6, $7, now())",
                self.tenant,
                journey_id,
                json.dumps(document),
                definition.trigger.kind,
                key,
                definition.goal is not None,
                definition.reentry,
            )
        return journey_id

    async def set_status(self, journey_id: uuid.UUID, status: str) -> None:
        await self.connection.execute(
            "UPDATE journeys SET status = $3, updated_at = now() WHERE tenant_id = $1 AND journey_id = $2",
            self.tenant,
            journey_id,
            status,
        )

    async def instance_states(self, *journey_ids: uuid.UUID) -> dict[str, int]:
        """Instances by state: ``waiting`` (active at a wait's successor, due later), ``active``
        (any other active), and each ended status."""
        rows = await self.connection.fetch(
            "SELECT CASE WHEN status = 'active' AND cursor <> 'steps[0]' AND lease_token IS NULL "
            "THEN 'waiting' ELSE status END AS state, count(*) AS n FROM journey_instances "
            "WHERE tenant_id = $1 AND journey_id = ANY($2::uuid[]) GROUP BY 1",
            self.tenant,
            list(journey_ids),
        )
        return {row["state"]: int(row["n"]) for row in rows}

    async def steps_by_kind(self, journey_ids: Sequence[uuid.UUID], since: float) -> list[asyncpg.Record]:
        """The ledger's rows committed at or after ``since`` (the journeys' clock, epoch seconds):
        count and first/last commit per kind and outcome."""
        return list(
            await self.connection.fetch(
                "SELECT kind, outcome, count(*) AS n, extract(epoch FROM min(at))::float8 AS first, "
                "extract(epoch FROM max(at))::float8 AS last FROM journey_steps "
                "WHERE tenant_id = $1 AND journey_id = ANY($2::uuid[]) AND at >= to_timestamp($3) "
                "GROUP BY kind, outcome ORDER BY kind, outcome",
                self.tenant,
                list(journey_ids),
                since,
            )
        )

    async def first_steps(self, journey_id: uuid.UUID) -> dict[str, float]:
        """Customer → when its instance's first step committed (the journeys' clock, epoch s)."""
        rows = await self.connection.fetch(
            "SELECT i.customer_id, extract(epoch FROM s.at)::float8 AS at FROM journey_steps AS s "
            "JOIN journey_instances AS i ON i.tenant_id = s.tenant_id AND i.instance_id = s.instance_id "
            "WHERE s.tenant_id = $1 AND s.journey_id = $2 AND s.path = 'steps[0]'",
            self.tenant,
            journey_id,
        )
        return {str(row["customer_id"]): float(row["at"]) for row in rows}

    async def pending_messages(self) -> int:
        query = "SELECT count(*) FROM messages WHERE tenant_id = $1 AND status IN ('queued', 'deferred')"
        return int(await self.connection.fetchval(query, self.tenant))


def system_pids(home: Path, names: Sequence[str]) -> dict[str, int]:
    """The processes of the system under ``home`` named ``names`` (their stdout is
    ``logs/<name>.log``, as ``patron up`` starts them)."""
    logs = {str(home.resolve() / "logs" / f"{name}.log"): name for name in names}
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                name = logs.get(os.readlink(entry / "fd" / "1"))
                if name is not None:
                    found[name] = int(entry.name)
    return found


def _status_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` field in KiB (``VmRSS``, ``VmHWM``); 0 once the process is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


class MemoryWatch:
    """The notify processes' resident memory, sampled every ``every`` seconds while running."""

    def __init__(self, pids: Sequence[int], every: float = 0.25) -> None:
        self.pids = list(pids)
        self.every = every
        self.peak_mb = 0.0
        self._task: asyncio.Task[None] | None = None

    def rss_mb(self) -> float:
        """Resident memory of all the notify processes together, in MiB (VmRSS)."""
        return sum(_status_kib(pid, "VmRSS") for pid in self.pids) / 1024

    def high_water_mb(self) -> float:
        """The kernel's high-water mark of resident memory (VmHWM) since each process started, in MiB."""
        return round(sum(_status_kib(pid, "VmHWM") for pid in self.pids) / 1024, 1)

    async def __aenter__(self) -> MemoryWatch:
        self.peak_mb = self.rss_mb()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            self.peak_mb = max(self.peak_mb, self.rss_mb())
            await asyncio.sleep(self.every)

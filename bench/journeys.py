"""Benchmark: journey wake-ups — 100,000 instances due at once, run to their end; and trigger → first
action latency. Issue 13 item 7.

Against a system already running (``patron up``) whose notify was started with the development clock
(``PATRON_NOTIFY_JOURNEY_CLOCK_FILE``, given here as ``--clock-file``); prints one JSON object.
Target (DESIGN.md): journey wake-ups (100 k instances due at once) → action committed
**>= 5,000 steps/s**.

The workload (the defaults):

- a tenant with ``--customers`` 100,000 customers (created by ``view`` events carrying an e-mail
  identity, 100 a call), each granted e-mail marketing consent; the e-mail channel on provider
  ``http`` pointing at a local peer (``tests.notify_peers http``, 50 ms); no cap, no quiet hours. Kept
  in ``--world`` and used again by later runs (customers and consents are the slow part);
- per **variant**, ``--copies`` journeys of its own (``POST /v1/journeys`` + ``/activate``; written
  into notify's database on a system without that API), each entered by every customer — an
  abandoned cart: trigger ``add_to_cart``; ``wait PT1H``; ``if since_trigger order`` → ``exit``, else
  (``coupon``) ``issue_coupon`` (loyalty, 5 yuan) then ``send``, or (``plain``) ``send`` alone; goal
  ``order paid``;
- **entry**: one ``add_to_cart`` per customer through ``POST /v1/events`` (500 a call, 4 calls in
  flight); the bench waits until every instance waits (and every earlier message is delivered);
- **wake-up**: the journeys' clock moves on 2 hours at once: every instance is due. Timed from that
  moment until every instance ended: steps committed per second (``journey_steps`` rows written
  after the move, by kind), instances per second, CPU per process, notify's memory;
- **latency**: a journey whose first step is a ``send``, started by ``custom.journey_ping`` events
  posted one a call at a steady ``--ping-rate`` for ``--ping-seconds``: POST → the step's commit
  (``journey_steps.at``, less the clock's offset).

    python -m bench.journeys --url http://127.0.0.1:18080 --clock-file FILE \\
        --world bench-results/journeys-world.json --output bench-results/journeys.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

if not __package__:  # run as a script: make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    DEFAULT_URL,
    BenchError,
    create_tenant,
    emit_report,
    fast_httpcore,
    latency_summary,
    load_admin_token,
    log,
    machine_info,
    positive_int,
)
from bench._journey_world import (
    EVENT_BATCH,
    JourneyDb,
    MemoryWatch,
    World,
    configure_channel,
    expect,
    make_world,
    retried,
    system_pids,
)
from bench._notify_world import notify_database_url, start_peers
from bench.ingest import ProcessCpu
from services.notify.journey_clock import advance_clock

TARGET = "journey wake-ups (100 k instances due at once) -> action committed >= 5,000 steps/s (DESIGN.md)"
WAIT = "PT1H"
MOVE_SECONDS = 2 * 3600.0


def clock_offset(path: Path) -> float:
    """The journeys' clock offset in seconds (what notify adds to the real time)."""
    return float(path.read_text().strip() or 0) if path.exists() else 0.0


def cart_journey(world: World, variant: str) -> dict[str, Any]:
    """The abandoned cart of ``variant``: with the coupon before the send, or the send alone."""
    act: list[dict[str, Any]] = [{"send": {"template_id": world.templates[variant]}}]
    if variant == "coupon":
        act.insert(0, {"issue_coupon": {"template_id": world.coupon_template_id}})
    return {
        "name": f"bench cart {variant} {uuid.uuid4().hex[:8]}",
        "trigger": {"event": "add_to_cart"},
        "steps": [
            {"wait": WAIT},
            {"if": {"since_trigger": {"order": True}}, "then": [{"exit": True}], "else": act},
        ],
        "goal": {"order": "paid"},
    }


class Journeys:
    """Journeys installed through the definitions API (``POST /v1/journeys`` + ``/activate``, ended by
    ``/archive``), or — on a system without that API — written straight into notify's database."""

    def __init__(self, api: httpx.AsyncClient, db: JourneyDb) -> None:
        self.api, self.db = api, db
        self.through = "api"

    async def install(self, document: dict[str, Any]) -> uuid.UUID:
        """An active journey of ``document``."""
        if self.through == "api":
            answer = await self.api.post("/v1/journeys", json=document)
            if answer.status_code != 404:
                journey_id = str(expect(answer, 201, "POST /v1/journeys")["journey_id"])
                expect(await self.api.post(f"/v1/journeys/{journey_id}/activate"), 200, "activate")
                return uuid.UUID(journey_id)
            self.through = "database"
        return await self.db.install(document)

    async def archive(self, journey_id: uuid.UUID) -> None:
        """No later event enters it (the next phase's events have the same type)."""
        if self.through == "api":
            expect(await self.api.post(f"/v1/journeys/{journey_id}/archive"), 200, "archive")
        else:
            await self.db.set_status(journey_id, "archived")


async def until(what: str, limit_s: float, check: Any, every: float = 0.5) -> float:
    """Poll ``check()`` until true; answers the seconds it took (BenchError after ``limit_s``)."""
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > limit_s:
            raise BenchError(f"{what}: not reached after {limit_s:.0f} s")
        await asyncio.sleep(every)
    return time.perf_counter() - started


async def enter_all(api: httpx.AsyncClient, world: World, tag: str) -> dict[str, Any]:
    """One ``add_to_cart`` per customer, 500 a call, 4 calls in flight."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = world.customers
    batches = [range(i, min(i + EVENT_BATCH, len(ids))) for i in range(0, len(ids), EVENT_BATCH)]
    slots = asyncio.Semaphore(4)
    started = time.perf_counter()

    async def one(batch: range) -> None:
        events = [
            {
                "event_id": f"cart-{tag}-{i}",
                "type": "add_to_cart",
                "occurred_at": stamp,
                "customer_id": ids[i],
                "properties": {
                    "sku": f"SKU-{i % 997}",
                    "product": f"Product {i % 997}",
                    "price_minor": 9_900,
                },
            }
            for i in batch
        ]
        async with slots:
            answer = await retried(api, "POST", "/v1/events", {"events": events})
        result = expect(answer, 200, "POST /v1/events")
        if result["rejected"]:
            raise BenchError(f"events rejected: {result['rejected'][:3]}")

    await asyncio.gather(*(one(b) for b in batches))
    wall = time.perf_counter() - started
    return {"events": len(ids), "post_s": round(wall, 2), "events_per_s": round(len(ids) / wall, 1)}


@contextlib.asynccontextmanager
async def profiled(options: argparse.Namespace, variant: str) -> AsyncIterator[None]:
    """With ``--py-spy DIR``: py-spy samples notify, loyalty and profile (raw collapsed stacks, one
    file each) for as long as the block runs."""
    if options.py_spy is None:
        yield
        return
    options.py_spy.mkdir(parents=True, exist_ok=True)
    spies = []
    for name, pid in system_pids(Path(options.home), ("notify", "loyalty", "profile")).items():
        output = options.py_spy / f"{variant}-{name}.txt"
        command = ["py-spy", "record", "--pid", str(pid), "--rate", "50", "--format", "raw"]
        command += ["--nonblocking", "--output", str(output)]
        spies.append(await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL))
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            await spy.wait()


def cpu_pct(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, float]:
    return {name: round(100 * (after[name] - before.get(name, 0.0)) / wall, 1) for name in sorted(after)}


async def wake_up(
    options: argparse.Namespace, journeys: Journeys, world: World, variant: str
) -> dict[str, Any]:
    """Enter every customer, wait until all wait, move the clock, time the run to the end."""
    api, db = journeys.api, journeys.db
    n: int = len(world.customers) * options.copies
    ids = [await journeys.install(cart_journey(world, variant)) for _ in range(options.copies)]
    log(f"{variant}: {len(ids)} journey(s); entering {len(world.customers):,} customers in each ...")
    entry = await enter_all(api, world, ids[0].hex[:8])

    async def all_waiting() -> bool:
        return (await db.instance_states(*ids)).get("waiting", 0) >= n

    entry["all_waiting_after_s"] = round(
        entry["post_s"] + await until("entry", options.timeout, all_waiting), 1
    )
    entry["instances_per_s"] = round(n / entry["all_waiting_after_s"], 1)
    log(f"{variant}: {n:,} waiting after {entry['all_waiting_after_s']} s; draining earlier messages ...")

    async def drained() -> bool:
        return await db.pending_messages() == 0

    await until("delivery drain", options.timeout, drained, every=1.0)
    pids = list(system_pids(Path(options.home), ("notify",)).values())
    cpu = ProcessCpu(Path(options.home))
    memory = MemoryWatch(pids)
    rss_before = memory.rss_mb()
    await asyncio.sleep(1.0)
    cpu_before = cpu.sample()
    started = time.time()
    advance_clock(options.clock_file, MOVE_SECONDS)
    moved = started + clock_offset(options.clock_file)  # the journeys' time of the move
    log(f"{variant}: clock moved; every instance is due ...")
    timeline: list[list[float]] = []

    async def all_ended() -> bool:
        states = await db.instance_states(*ids)
        ended = sum(v for k, v in states.items() if k not in ("active", "waiting"))
        timeline.append([round(time.time() - started, 1), ended])
        return ended >= n

    async with memory, profiled(options, variant):
        await until("run", options.timeout, all_ended, every=1.0)
    wall = time.time() - started
    cpu_after = cpu.sample()
    rows = await db.steps_by_kind(ids, moved - 0.001)
    for journey_id in ids:
        await journeys.archive(journey_id)
    steps = sum(int(r["n"]) for r in rows)
    last = max(float(r["last"]) for r in rows)
    first = min(float(r["first"]) for r in rows)
    ledger_wall = last - moved
    by_kind: Counter[str] = Counter()
    for r in rows:
        by_kind[r["kind"]] += int(r["n"])
    states = await db.instance_states(*ids)
    return {
        "journey_ids": [str(i) for i in ids],
        "steps": [step for step in cart_journey(world, variant)["steps"]],
        "entry": entry,
        "wake_up": {
            "instances": n,
            "instances_ended": states,
            "steps_committed": steps,
            "steps_by_kind": dict(by_kind),
            "steps_by_kind_and_outcome": {f"{r['kind']}:{r['outcome']}": int(r["n"]) for r in rows},
            "first_step_after_move_s": round(first - moved, 3),
            "last_step_after_move_s": round(ledger_wall, 3),
            "steps_per_s": round(steps / ledger_wall, 1),
            "instances_per_s": round(n / ledger_wall, 1),
            "steps_per_s_by_kind": {k: round(v / ledger_wall, 1) for k, v in by_kind.items()},
            "observed_all_ended_after_s": round(wall, 1),
            "ended_over_time": timeline[:: max(1, len(timeline) // 40)],
            "cpu_pct_of_one_core": cpu_pct(cpu_before, cpu_after, wall),
            "cpu_ms_per_step": {
                name: round(1000 * (cpu_after[name] - cpu_before.get(name, 0.0)) / steps, 3)
                for name in sorted(cpu_after)
            },
        },
        "notify_memory_mb": {
            "processes": len(pids),
            "rss_before": round(rss_before, 1),
            "rss_peak": round(memory.peak_mb, 1),
            "rss_after": round(memory.rss_mb(), 1),
            "vm_hwm_since_start": memory.high_water_mb(),
        },
    }


async def ping_latency(options: argparse.Namespace, journeys: Journeys, world: World) -> dict[str, Any]:
    """Events one a call at a steady rate; each customer's POST → its first step's commit."""
    count = min(len(world.customers), int(options.ping_rate * options.ping_seconds))
    document = {
        "name": f"bench ping {uuid.uuid4().hex[:8]}",
        "trigger": {"event": "custom.journey_ping"},
        "steps": [{"send": {"template_id": world.templates["ping"]}}],
    }
    api, db = journeys.api, journeys.db
    journey_id = await journeys.install(document)
    customers = world.customers[:count]
    posted: dict[str, float] = {}
    call_ms: list[float] = []
    errors: Counter[str] = Counter()
    log(f"latency: {count:,} events at {options.ping_rate:g}/s ...")
    begin = time.perf_counter()

    async def one(k: int, customer: str) -> None:
        await asyncio.sleep(max(0.0, begin + k / options.ping_rate - time.perf_counter()))
        event = {
            "event_id": f"ping-{journey_id.hex[:8]}-{k}",
            "type": "custom.journey_ping",
            "occurred_at": datetime.now(UTC).isoformat(),
            "customer_id": customer,
        }
        posted[customer] = time.time()
        sent = time.perf_counter()
        try:
            answer = await api.post("/v1/events", json={"events": [event]})
        except httpx.HTTPError as error:
            errors[type(error).__name__] += 1
            return
        if answer.status_code != 200 or answer.json()["accepted"] != 1:
            errors[str(answer.status_code)] += 1
            return
        call_ms.append((time.perf_counter() - sent) * 1000)

    await asyncio.gather(*(one(k, c) for k, c in enumerate(customers)))
    achieved = count / (time.perf_counter() - begin)

    async def all_ended() -> bool:
        states = await db.instance_states(journey_id)
        return sum(v for k, v in states.items() if k not in ("active", "waiting")) >= count - sum(
            errors.values()
        )

    await until("ping journeys", options.timeout, all_ended)
    offset = clock_offset(options.clock_file)
    committed = await db.first_steps(journey_id)
    await journeys.archive(journey_id)
    latencies = [(committed[c] - offset - posted[c]) * 1000 for c in customers if c in committed]
    return {
        "journey_id": str(journey_id),
        "events": count,
        "rate_per_s": {"asked": options.ping_rate, "achieved": round(achieved, 1)},
        "post_call_ms": latency_summary(call_ms),
        "errors": dict(errors),
        "first_actions": len(latencies),
        "event_to_first_action_ms": latency_summary(latencies),
    }


def kept_world(path: Path | None) -> World | None:
    """The world an earlier run kept in ``path`` (None: make a new one)."""
    return World.load(path) if path is not None and path.exists() else None


async def run(options: argparse.Namespace) -> dict[str, Any]:
    fast_httpcore()
    if options.clock_file is None:
        raise BenchError("pass --clock-file: the PATRON_NOTIFY_JOURNEY_CLOCK_FILE notify was started with")
    world_file: Path = options.world
    existing = kept_world(world_file)
    if existing is not None:
        world = existing
        if len(world.customers) != options.customers:
            raise BenchError(f"{world_file} has {len(world.customers):,} customers; pass another --world")
        reused = True
    else:
        token = load_admin_token(options.admin_token)
        tenant_id, api_key = create_tenant(options.url, token, prefix="bench-journeys")
        world = World(tenant_id, api_key, [], {}, "")
        reused = False
    database_url = options.notify_database_url or notify_database_url(Path(options.home))
    headers = {"Authorization": f"Bearer {world.api_key}"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=2.0)
    report: dict[str, Any] = {"benchmark": "journeys", "tenant_id": world.tenant_id, "world_reused": reused}
    async with (
        start_peers(("email",), options.peer_port, options.peer_latency_ms) as peers,
        httpx.AsyncClient(base_url=options.url, headers=headers, timeout=60, limits=limits) as api,
    ):
        await configure_channel(api, peers)
        if not reused:
            log(f"making the world: {options.customers:,} customers with e-mail consent ...")
            started = time.perf_counter()
            world = await make_world(
                api, world.tenant_id, world.api_key, options.customers, options.setup_concurrency
            )
            report["setup_s"] = round(time.perf_counter() - started, 1)
            if world_file is not None:
                world.save(world_file)
        db = await JourneyDb.open(database_url, world.tenant_id)
        try:

            async def consents_kept() -> bool:
                return await db.consents() >= len(world.customers)

            await until("notify's consents", options.timeout, consents_kept, every=1.0)
            journeys = Journeys(api, db)
            for variant in options.variants:
                report[variant] = await wake_up(options, journeys, world, variant)
                log(f"{variant}: {report[variant]['wake_up']['steps_per_s']:,} steps/s")
            if options.ping_seconds > 0:
                report["latency"] = await ping_latency(options, journeys, world)
            report["journeys_installed_through"] = journeys.through
        finally:
            await db.close()
    return report


def variants(text: str) -> list[str]:
    chosen = [v.strip() for v in text.split(",") if v.strip()]
    if not chosen or any(v not in ("coupon", "plain") for v in chosen):
        raise argparse.ArgumentTypeError("a comma-separated list of coupon and plain")
    return chosen


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--admin-token", default=None)
    parser.add_argument("--home", default=os.environ.get("PATRON_HOME", ".patron"))
    parser.add_argument("--notify-database-url", default=None, help="default: patron up's embedded one")
    parser.add_argument("--clock-file", type=Path, default=None, help="notify's journey clock file")
    parser.add_argument("--world", type=Path, default=None, help="keep the tenant here and use it again")
    parser.add_argument("--customers", type=positive_int, default=100_000)
    parser.add_argument(
        "--copies",
        type=positive_int,
        default=1,
        help="identical journeys per variant, each entered by every customer: instances = customers x copies",
    )
    parser.add_argument("--variants", type=variants, default=["coupon", "plain"])
    parser.add_argument("--py-spy", type=Path, default=None, help="record py-spy profiles into this folder")
    parser.add_argument("--ping-rate", type=float, default=20.0, help="latency events per second")
    parser.add_argument("--ping-seconds", type=float, default=30.0, help="0: no latency phase")
    parser.add_argument("--setup-concurrency", type=positive_int, default=32)
    parser.add_argument("--peer-port", type=positive_int, default=18199)
    parser.add_argument("--peer-latency-ms", type=float, default=50.0)
    parser.add_argument("--timeout", type=float, default=1_800.0, help="seconds allowed for each wait")
    parser.add_argument("--output", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
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
        "workload": {**workload, "wait": WAIT, "clock_moved_s": MOVE_SECONDS},
        "target": TARGET,
        "machine": {**machine_info(), "load_average_at_end": os.getloadavg()},
        "started_at": started.isoformat(),
    }
    emit_report(report, options.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

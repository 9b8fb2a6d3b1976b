"""Benchmark: messages through notify's policy and delivery worker to the generic ``http`` provider.

Against a system already running (``patron up``); prints one JSON object. Target (docs/product.md):
message delivery to a provider (local fake, 50 ms latency) **>= 2,000 messages/s**. Issue 12 item 8.

The workload (the defaults):

- a fresh tenant; channels ``sms``, ``push`` and ``email``, each on provider ``http`` pointing at
  its own peer process (``python -m tests.notify_peers http --latency-ms 50``, checking each Standard
  Webhooks signature), ``rate_per_second`` 10,000; one marketing template per channel; policy: a cap
  of 2 per ``P1D`` across channels, no quiet hours;
- ``--customers`` 100,000 customers (identify: phone, app user id, e-mail, nickname, zone UTC) with a
  granted marketing consent on one channel (sms for even, push for odd), plus ``--cap-customers``
  1,000 with consent on all three; consents by one PUT each (no batch API), 32 customers at once
  (``--setup-concurrency``; a dropped call or a 503/504 is tried again: both calls are idempotent);
  then the bench waits until notify's consumer holds every consent;
- **live**: one ``POST /v1/messages`` per customer (sms or push), 64 callers (``--concurrency``),
  closed loop, while the worker delivers; meanwhile each cap customer gets 5 marketing messages at
  once over sms, push, email, sms, push (16 customers at a time): exactly 2 may pass;
- **burst**: quiet hours (UTC) that end at a whole minute; ``--burst`` 20,000 second messages to
  the first customers are deferred until then, and the worker drains them at once: its capacity.

Figures: policy decisions/s and the API's latency; messages delivered/s in the live phase (first
commit → last ``sent``: bounded by the decision rate when the worker keeps up) and in the burst
(quiet hours' end → last ``sent``); queue → provider latency (peer's receipt - the message's
``created_at``) in the live phase; the cap's violations (must be 0).

    python -m bench.notify --url http://127.0.0.1:8080 --output bench-results/notify.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from bench._cpu import process_cpu_s
from bench._notify_world import (
    NotifyReader,
    Peers,
    Sampler,
    configure,
    drained,
    notify_database_url,
    seed,
    set_policy,
    start_peers,
)
from bench.ingest import ProcessCpu

LIVE_CHANNELS = ("sms", "push")
CAP_CHANNELS = ("sms", "push", "email", "sms", "push")
CAP = {"max": 2, "per": "P1D"}
CAP_PARALLEL = 16
TARGET = "message delivery to a provider (local fake, 50 ms latency) >= 2,000 messages/s (docs/product.md)"


@dataclass
class Calls:
    """What one phase's ``POST /v1/messages`` calls came to."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    ended: float = 0.0

    def report(self) -> dict[str, Any]:
        wall = self.ended - self.started
        return {
            "calls": len(self.latencies_ms) + sum(self.errors.values()),
            "wall_s": round(wall, 3),
            "decisions_per_s": round(len(self.latencies_ms) / wall, 1) if wall > 0 else None,
            "latency_ms": latency_summary(self.latencies_ms),
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
        }


async def post(
    client: httpx.AsyncClient, customer: str, template: str, calls: Calls
) -> dict[str, Any] | None:
    """One message; its answer (None after an error, which ``calls`` counts)."""
    body = {"customer_id": customer, "template_id": template, "data": {"offer": "20% off"}}
    started = time.perf_counter()
    try:
        answer = await client.post("/v1/messages", json=body)
    except httpx.HTTPError as error:
        calls.errors[type(error).__name__] += 1
        return None
    if answer.status_code != 202:
        calls.errors[str(answer.status_code)] += 1
        return None
    calls.latencies_ms.append((time.perf_counter() - started) * 1000)
    document: dict[str, Any] = answer.json()
    calls.statuses[f"{document['status']}:{document.get('reason') or ''}".rstrip(":")] += 1
    return document


async def send_all(
    client: httpx.AsyncClient, targets: Sequence[tuple[str, str]], concurrency: int, calls: Calls
) -> None:
    """One message per (customer, template), ``concurrency`` callers back to back."""
    queue = iter(targets)
    calls.started = time.perf_counter()

    async def caller() -> None:
        for customer, template in queue:
            await post(client, customer, template, calls)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    calls.ended = time.perf_counter()


async def cap_phase(
    client: httpx.AsyncClient, customers: Sequence[str], templates: dict[str, str], calls: Calls
) -> dict[str, Any]:
    """Each customer: 5 marketing messages at once over 3 channels; the cap lets exactly 2 pass."""
    passed: dict[str, int] = {}  # by the answers; the report's verdict counts notify's database
    slots = asyncio.Semaphore(CAP_PARALLEL)
    calls.started = time.perf_counter()

    async def one(customer: str) -> None:
        async with slots:
            answers = await asyncio.gather(
                *(post(client, customer, templates[c], calls) for c in CAP_CHANNELS)
            )
        passed[customer] = sum(1 for a in answers if a is not None and a["status"] != "suppressed")

    await asyncio.gather(*(one(c) for c in customers))
    calls.ended = time.perf_counter()
    violations = sum(1 for n in passed.values() if n != CAP["max"])
    return {
        "customers": len(customers),
        "messages_each": len(CAP_CHANNELS),
        "channels": sorted(set(CAP_CHANNELS)),
        "cap": CAP,
        "passed_per_customer_by_answers": dict(Counter(passed.values())),
        "violations_by_answers": violations,
        "calls": calls.report(),
    }


def delivery(rows: Sequence[Any], received: dict[str, float], since: float | None = None) -> dict[str, Any]:
    """Sent per second (``since`` or the first ``created_at`` → the last ``sent_at``), and queue →
    provider latency (peer's first receipt - ``created_at``)."""
    sent = [r for r in rows if r["sent"] is not None]
    if not sent:
        return {"sent": 0}
    start = since if since is not None else min(r["created"] for r in rows)
    last = max(r["sent"] for r in sent)
    arrivals = [received[str(r["message_id"])] for r in sent if str(r["message_id"]) in received]
    latency = [
        (received[str(r["message_id"])] - r["created"]) * 1000
        for r in sent
        if str(r["message_id"]) in received
    ]
    return {
        "messages": len(rows),
        "sent": len(sent),
        "statuses": dict(Counter(r["status"] for r in rows)),
        "wall_s": round(last - start, 3),
        "delivered_per_s": round(len(sent) / (last - start), 1) if last > start else None,
        "peer_first_to_last_receipt_per_s": (
            round(len(arrivals) / (max(arrivals) - min(arrivals)), 1) if len(arrivals) > 1 else None
        ),
        "first_receipt_after_start_s": round(min(arrivals) - start, 3) if arrivals else None,
        "queue_to_provider_ms": latency_summary(latency),
    }


def cpu_report(
    cpu: ProcessCpu, before: dict[str, float], after: dict[str, float], wall: float
) -> dict[str, float]:
    """CPU per process of the system, in % of one core, over ``wall`` seconds."""
    return {name: round(100 * (after[name] - before.get(name, 0.0)) / wall, 1) for name in sorted(after)}


async def run(options: argparse.Namespace) -> dict[str, Any]:
    fast_httpcore()
    token = load_admin_token(options.admin_token)
    tenant_id, api_key = create_tenant(options.url, token, prefix="bench-notify")
    database_url = options.notify_database_url or notify_database_url(Path(options.home))
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends them under a reused request.
    limits = httpx.Limits(
        max_connections=options.concurrency + 5 * CAP_PARALLEL,
        max_keepalive_connections=1_000,
        keepalive_expiry=2.0,
    )
    headers = {"Authorization": f"Bearer {api_key}"}
    channels = ("sms", "push", "email")
    cpu = ProcessCpu(Path(options.home))
    report: dict[str, Any] = {"benchmark": "notify", "tenant_id": tenant_id}
    async with (
        start_peers(channels, options.peer_port, options.peer_latency_ms) as peers,
        httpx.AsyncClient(
            base_url=options.url, headers=headers, timeout=options.timeout, limits=limits
        ) as api,
        httpx.AsyncClient(timeout=10) as side,
    ):
        reader = await NotifyReader.open(database_url, tenant_id)
        try:
            templates = await configure(api, peers, CAP, options.rate_per_second)
            n, c = options.customers, options.cap_customers
            plan = [(LIVE_CHANNELS[i % 2],) for i in range(n)] + [("sms", "push", "email")] * c
            log(f"seeding {n + c:,} customers and {n + 3 * c:,} consents ...")
            ids, seed_s = await seed(api, plan, options.setup_concurrency)
            consents = n + 3 * c
            started = time.perf_counter()
            while (kept := await reader.granted_consents()) < consents:
                if time.perf_counter() - started > options.drain_timeout:
                    raise BenchError(f"notify holds {kept:,} of {consents:,} consents after the timeout")
                await asyncio.sleep(1.0)
            report["setup"] = {
                "customers": n + c,
                "consents": consents,
                "seed_s": round(seed_s, 1),
                "customers_per_s": round((n + c) / seed_s, 1),
                "consents_kept_by_notify_after_s": round(time.perf_counter() - started, 1),
                "how": "identify one call per customer, then one PUT consent per channel (no batch API), "
                f"{options.setup_concurrency} customers at once",
            }

            log(f"live: {n:,} messages, {options.concurrency} callers; cap: {c:,} customers x 5 ...")
            live_calls, cap_calls = Calls(), Calls()
            targets = [(ids[i], templates[LIVE_CHANNELS[i % 2]]) for i in range(n)]
            cpu_before, own_before, wall_before = cpu.sample(), time.process_time(), time.perf_counter()
            peer_cpu_before = {pid: process_cpu_s(pid) or 0.0 for pid in peers.pids()}
            async with Sampler(peers, side, lambda: sum(live_calls.statuses.values())) as sampler:
                _, cap_result = await asyncio.gather(
                    send_all(api, targets, options.concurrency, live_calls),
                    cap_phase(api, ids[n:], templates, cap_calls),
                )
                emptied = await drained(reader, options.drain_timeout)
            wall = time.perf_counter() - wall_before
            cpu_after, own_after = cpu.sample(), time.process_time()
            rows = await reader.messages()
            received = await peers.received(side)
            live_ids, cap_ids = set(ids[:n]), set(ids[n:])
            passed = Counter(
                str(r["customer_id"])
                for r in rows
                if str(r["customer_id"]) in cap_ids and r["status"] != "suppressed"
            )
            cap_result["passed_per_customer_in_notify_db"] = dict(Counter(passed[i] for i in cap_ids))
            cap_result["violations"] = sum(1 for i in cap_ids if passed[i] != CAP["max"])
            cap_result["holds"] = cap_result["violations"] == 0
            live_delivery = delivery([r for r in rows if str(r["customer_id"]) in live_ids], received)
            used = {
                **cpu_report(cpu, cpu_before, cpu_after, wall),
                "load_generator": round(100 * (own_after - own_before) / wall, 1),
                "peers": round(
                    100 * sum((process_cpu_s(p) or 0.0) - t for p, t in peer_cpu_before.items()) / wall, 1
                ),
            }
            handled = len(rows)
            report["live"] = {
                "decisions": live_calls.report(),
                "delivery": {**live_delivery, "drained": emptied},
                "committed_and_received_over_time": sampler.samples[:: max(1, len(sampler.samples) // 60)],
                "cpu_pct_of_one_core": used,
                "cpu_ms_per_committed_message": {
                    k: round(v * wall * 10 / handled, 2) for k, v in used.items()
                },
            }
            report["cap_under_load"] = cap_result

            report["burst"] = await burst(options, api, side, peers, reader, ids, templates, live_calls, cpu)
            report["peers"] = await peers.stats(side)
        finally:
            await reader.close()
    return report


async def burst(
    options: argparse.Namespace,
    api: httpx.AsyncClient,
    side: httpx.AsyncClient,
    peers: Peers,
    reader: NotifyReader,
    ids: Sequence[str],
    templates: dict[str, str],
    live: Calls,
    cpu: ProcessCpu,
) -> dict[str, Any]:
    """Defer ``--burst`` messages to the end of quiet hours, then time the worker draining them."""
    count = min(options.burst, options.customers)
    rate = (live.report()["decisions_per_s"] or 100.0) * 0.8
    now = datetime.now(UTC)
    end = (now + timedelta(seconds=count / rate + 30)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    await set_policy(api, CAP, ((now - timedelta(minutes=1)).strftime("%H:%M"), end.strftime("%H:%M")))
    log(f"burst: {count:,} messages deferred until {end:%H:%M} UTC ...")
    calls = Calls()
    before_rows = {r["message_id"] for r in await reader.messages()}
    await send_all(
        api, [(ids[i], templates[LIVE_CHANNELS[i % 2]]) for i in range(count)], options.concurrency, calls
    )
    deferred = calls.statuses.get("deferred", 0)
    if datetime.now(UTC) >= end:
        log("burst: quiet hours ended before every message was committed (the figure mixes both)")
    await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()))
    cpu_before, wall_before = cpu.sample(), time.perf_counter()
    async with Sampler(peers, side) as sampler:
        emptied = await drained(reader, options.drain_timeout)
    wall = time.perf_counter() - wall_before
    cpu_after = cpu.sample()
    used = cpu_report(cpu, cpu_before, cpu_after, wall)
    rows = [r for r in await reader.messages() if r["message_id"] not in before_rows]
    result = delivery(rows, await peers.received(side), since=end.timestamp())
    result.pop("queue_to_provider_ms", None)  # measures the wait for quiet hours, not the path
    return {
        "messages": count,
        "quiet_hours_end": end.isoformat(),
        "decisions": calls.report(),
        "delivery": {**result, "drained": emptied},
        "received_over_time": [[t, r] for t, _, r in sampler.samples],
        "cpu_pct_of_one_core": used,
        "cpu_ms_per_message": {k: round(v * wall * 10 / max(1, deferred), 2) for k, v in used.items()},
    }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--admin-token", default=None)
    parser.add_argument("--home", default=os.environ.get("PATRON_HOME", ".patron"))
    parser.add_argument("--notify-database-url", default=None, help="default: patron up's embedded one")
    parser.add_argument("--customers", type=positive_int, default=100_000)
    parser.add_argument("--cap-customers", type=positive_int, default=1_000)
    parser.add_argument("--burst", type=positive_int, default=20_000)
    parser.add_argument("--concurrency", type=positive_int, default=64)
    parser.add_argument("--setup-concurrency", type=positive_int, default=32)
    parser.add_argument("--peer-port", type=positive_int, default=18099, help="first of 3 ports")
    parser.add_argument("--peer-latency-ms", type=float, default=50.0)
    parser.add_argument("--rate-per-second", type=positive_int, default=10_000)
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--timeout", type=float, default=30.0)
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
        k: v for k, v in vars(options).items() if k not in ("admin_token", "output", "notify_database_url")
    }
    report = {
        **report,
        "workload": {**workload, "cap": CAP, "live_channels": LIVE_CHANNELS, "cap_channels": CAP_CHANNELS},
        "target": TARGET,
        "machine": {**machine_info(), "load_average_at_end": os.getloadavg()},
        "started_at": started.isoformat(),
    }
    emit_report(report, options.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

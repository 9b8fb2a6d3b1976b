"""Benchmark: event → ``segment.entered`` latency through the whole system, at an offered event rate.

Runs against a system already started with ``patron up`` and prints one JSON object on stdout.
Target (DESIGN.md): **p99 ≤ 1 s** from an add-to-cart reaching the API to its ``segment.entered``
reaching a consumer of scoring's event stream, at **2,000 events/s**.

The workload (the defaults are the workload):

- a fresh tenant, ``--customers`` (2,000) customers created by identify, and the 20 saved segments
  of ``bench.segment_membership`` (attributes, scores, tags, windows, orders, birthdays, refunds)
  created through ``POST /v1/segments``; the measured one is the 24-hour abandoned cart;
- this process subscribes to scoring's event stream (gRPC, ``--scoring``) from its current heads,
  as notify does, and notes when each ``segment.entered`` of the cart segment arrives;
- open loop: every 100 ms a batch of ``--rate`` / 10 new behaviour events goes to ``POST /v1/events``
  (each batch in its own task, so a slow call never delays the schedule), for ``--duration`` (20) s;
  types view 60 %, add_to_cart 25 %, favorite 10 %, share 5 %, random customers, ``occurred_at`` now;
- the load starts once scoring has projected every customer (the time that took is reported: the
  consumer applies ``customer.created`` one event at a time);
- a customer's first add-to-cart makes them enter the cart segment: its latency is from the start of
  the call that carried it to the arrival of the customer's ``segment.entered``;
- ``cpu_pct``: CPU of each process of the system during the offered load (as ``bench.ingest``).

    python -m bench.segment_latency [--url http://127.0.0.1:8080] [--output results/segment_latency.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
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
from bench.ingest import ProcessCpu, create_customers
from bench.segment_membership import CART_24H, SEGMENTS, TYPES, WEIGHTS
from patron.events.v1 import envelope_pb2, envelope_pb2_grpc

TARGET = {"events_per_s": 2000, "p99_ms": 1000}
TICK_S = 0.1


# The bench's customers are identified with this city, which only profile's customer.created carries
# (loyalty's events for a new customer can reach scoring first and give it a bare row): the count
# of this condition is the customers scoring.customers applied.
CITY = "Lishui"
EVERYONE = {"field": "attributes.city", "op": "eq", "value": CITY}


async def wait_projected(client: httpx.AsyncClient, count: int, timeout_s: float = 600.0) -> float:
    """Seconds until scoring's projection holds all ``count`` customers (its consumer applies the
    identify calls' ``customer.created`` asynchronously): the measured load starts from a steady state."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout_s:
        response = await client.post("/v1/segments/preview", json={"condition": EVERYONE, "sample_size": 0})
        if response.status_code == 200 and response.json()["count"] >= count:
            return round(time.perf_counter() - began, 1)
        await asyncio.sleep(0.5)
    raise BenchError(f"scoring did not project {count} customers within {timeout_s} s")


async def create_segments(client: httpx.AsyncClient, count: int) -> str:
    """The first ``count`` of the 20 segments and the cart segment; the cart segment's id."""
    cart = ""
    chosen = [c for n, c in enumerate(SEGMENTS) if n < count or c == CART_24H]
    for number, condition in enumerate(chosen):
        response = await client.post("/v1/segments", json={"name": f"bench {number}", "condition": condition})
        if response.status_code != 201:
            raise BenchError(
                f"creating segment {number} answered {response.status_code}: {response.text[:300]}"
            )
        if condition == CART_24H:
            cart = response.json()["segment_id"]
    return cart


class EnteredWatch:
    """Subscribes to scoring's stream from its heads and notes each cart ``segment.entered``."""

    def __init__(self, address: str, tenant_id: str, segment_id: str) -> None:
        self._channel = grpc.aio.insecure_channel(address)
        self._stub = envelope_pb2_grpc.EventStreamStub(self._channel)
        self._tenant, self._segment = tenant_id, segment_id
        self.arrived: dict[str, float] = {}
        self.other_events = 0
        self.complete = asyncio.Event()
        self._wanted: int | None = None

    def expect(self, count: int) -> None:
        """Set ``complete`` once ``count`` customers have entered."""
        self._wanted = count
        self._check()

    def _check(self) -> None:
        if self._wanted is not None and len(self.arrived) >= self._wanted:
            self.complete.set()

    async def start(self) -> asyncio.Task[None]:
        heads = await self._stub.GetHeads(envelope_pb2.GetHeadsRequest(), timeout=5)
        request = envelope_pb2.SubscribeRequest(
            consumer="bench.segment_latency",
            partitions=[
                envelope_pb2.PartitionPosition(partition=h.partition, after_position=h.head)
                for h in heads.partitions
            ],
            types=["segment.entered"],
            max_batch=1000,
        )
        return asyncio.create_task(self._read(request))

    async def _read(self, request: envelope_pb2.SubscribeRequest) -> None:
        async for response in self._stub.Subscribe(request, timeout=3600):
            now = time.perf_counter()
            for event in response.events:
                if event.tenant_id == self._tenant and event.segment_entered.segment_id == self._segment:
                    self.arrived.setdefault(event.customer_id, now)
                else:
                    self.other_events += 1
            self._check()

    async def close(self) -> None:
        await self._channel.close()


async def offer(
    client: httpx.AsyncClient, customers: list[str], rate: int, duration_s: float, seed: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Send ``rate`` events a second for ``duration_s``; each customer's first add-to-cart send time."""
    rng = random.Random(seed)
    first_cart: dict[str, float] = {}
    counts = {"events": 0, "calls": 0, "errors": 0}
    per_tick = max(1, round(rate * TICK_S))
    tasks: set[asyncio.Task[None]] = set()

    async def send(events: list[dict[str, Any]], carts: list[str]) -> None:
        started = time.perf_counter()
        for customer in carts:
            first_cart.setdefault(customer, started)
        try:
            response = await client.post("/v1/events", content=json.dumps({"events": events}).encode())
        except httpx.HTTPError:
            counts["errors"] += 1
            return
        counts["calls"] += 1
        if response.status_code != 200:
            counts["errors"] += 1
            return
        counts["events"] += int(response.json()["accepted"])

    began = time.perf_counter()
    for tick in range(int(duration_s / TICK_S)):
        await asyncio.sleep(max(0.0, began + tick * TICK_S - time.perf_counter()))
        now = datetime.now(UTC).isoformat()
        kinds = rng.choices(TYPES, WEIGHTS, k=per_tick)
        chosen = [rng.choice(customers) for _ in range(per_tick)]
        events = [
            {
                "event_id": uuid.uuid4().hex,
                "type": kind,
                "occurred_at": now,
                "customer_id": who,
                "properties": {"sku": "S"},
            }
            for kind, who in zip(kinds, chosen, strict=True)
        ]
        carts = [
            who
            for kind, who in zip(kinds, chosen, strict=True)
            if kind == "add_to_cart" and who not in first_cart
        ]
        task = asyncio.create_task(send(events, carts))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    counts["offered_s"] = round(time.perf_counter() - began, 2)  # type: ignore[assignment]
    return first_cart, counts


async def measure(options: argparse.Namespace) -> dict[str, Any]:
    fast_httpcore()
    tenant_id, api_key = create_tenant(options.url, load_admin_token(options.admin_token), prefix="seglat")
    log(f"tenant {tenant_id}: creating {options.customers} customers")
    customers = await create_customers(options.url, api_key, options.customers, 30.0, {"city": CITY})
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=options.url, headers=headers, timeout=60.0, limits=limits
    ) as client:
        caught_up_s = await wait_projected(client, len(customers))
        log(f"scoring projected the customers {caught_up_s} s after the last identify")
        cart = await create_segments(client, options.segments)
        watch = EnteredWatch(options.scoring, tenant_id, cart)
        reader = await watch.start()
        cpu = ProcessCpu(Path(options.home))
        before, wall = cpu.sample(), time.perf_counter()
        log(f"offering {options.rate} events/s for {options.duration} s")
        first_cart, counts = await offer(client, customers, options.rate, options.duration, options.seed)
        watch.expect(len(first_cart))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.complete.wait(), options.settle)
        after, elapsed = cpu.sample(), time.perf_counter() - wall
        reader.cancel()
        await watch.close()
    latencies = [(watch.arrived[c] - sent) * 1000 for c, sent in first_cart.items() if c in watch.arrived]
    return {
        "bench": "segment_latency",
        "machine": machine_info(),
        "workload": {
            "customers": options.customers,
            "segments": max(options.segments, 1),
            "rate_events_per_s": options.rate,
            "duration_s": options.duration,
        },
        "customer_projection_catch_up_s": caught_up_s,
        "sent": counts,
        "achieved_events_per_s": round(counts["events"] / options.duration, 1),
        "entered_expected": len(first_cart),
        "entered_seen": len(latencies),
        "latency_ms": latency_summary(latencies),
        "target": TARGET,
        "cpu_pct": {
            name: round(100 * (after.get(name, 0) - before.get(name, 0)) / elapsed, 1)
            for name in sorted(after)
        },
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gateway URL (default {DEFAULT_URL})")
    parser.add_argument(
        "--scoring", default=f"127.0.0.1:{os.environ.get('PATRON_SCORING_GRPC_PORT', '50052')}"
    )
    parser.add_argument(
        "--home", default=os.environ.get("PATRON_HOME", ".patron"), help="patron up's home (CPU)"
    )
    parser.add_argument("--admin-token", default=None)
    parser.add_argument("--customers", type=positive_int, default=2000)
    parser.add_argument("--segments", type=int, default=20, help="saved segments, the cart among them (20)")
    parser.add_argument("--rate", type=positive_int, default=2000, help="events offered per second (2000)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of offered load (20)")
    parser.add_argument(
        "--settle", type=float, default=30.0, help="seconds to wait for the last entries (30)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    emit_report(asyncio.run(measure(arguments)), arguments.output)

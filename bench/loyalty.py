"""Benchmark: points earn / redeem under contention, and order.paid → points visible latency.

Runs against a system already started (``patron up``) and prints one JSON object on stdout.
Targets (docs/product.md): **≥ 1,500 earn+redeem operations/s with 0 overdrafts and 0 double credits**,
and **order paid → points visible p99 ≤ 250 ms** (2 cores, everything on one machine).

The workload (the defaults are the workload):

- a fresh tenant (through the gateway), 100 hot customers (``--accounts``) each credited 1,000
  points first;
- **contention phase**: 200 concurrent clients (``--concurrency``) call the loyalty service's gRPC
  API directly — the ``PointsService`` the gateway calls — closed loop for 15 s (``--duration``)
  after a 2 s warm-up: each call picks a hot account uniformly and, with equal odds, earns
  (``Adjust`` +1..5 points, a credit with its own lot) or redeems (``Redeem`` 1..5 points), each
  with a fresh idempotency key; 5 % of successful calls are sent again with the same key and must
  answer ``replayed`` with nothing moved. Afterwards every account's balance must equal 1,000 +
  what the clients saw credited - what they saw redeemed: a difference is a double credit (or a
  lost one); a negative balance anywhere, or a redemption answered with a negative balance, is an
  overdraft. A refused redemption (409, not covered) counts as an operation, not an error;
- **latency phase**: orders are posted through the gateway at 25 per second (``--order-rate``) for
  10 s (``--order-seconds``), each for a customer of its own (created first, then 5 s, ``--settle``,
  for the consumer to take in their customer.created); for each order the balance is polled over
  gRPC every 5 ms from the moment the order's 201 arrived until its points are there.

``contention.cpu_pct`` is the CPU each of the system's processes (found from ``--home``) and the
generator (this process, ``bench``) used during the measured contention phase, in % of one core.

Run from the repository root, with the system up::

    flock /tmp/patron-bench.lock .venv/bin/python -m bench.loyalty [--url http://127.0.0.1:8080] \\
        [--loyalty-address 127.0.0.1:50053] [--output bench-results/loyalty.json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx

from bench._bounds import cpu_pct
from bench._common import (
    DEFAULT_URL,
    BenchError,
    create_tenant,
    emit_report,
    latency_summary,
    load_admin_token,
    log,
    machine_info,
)
from bench._cpu import process_cpu_s
from bench.ingest import ProcessCpu
from patron.loyalty.v1 import loyalty_pb2, loyalty_pb2_grpc
from services.runtime.tenancy import TENANT_METADATA_KEY

INITIAL_POINTS = 1_000
REPLAY_SHARE = 0.05
RPC_TIMEOUT = 10.0


@dataclass
class Tally:
    credited: Counter[int] = field(default_factory=Counter)  # account index → points seen credited
    redeemed: Counter[int] = field(default_factory=Counter)
    operations: int = 0
    refused: int = 0
    overdrafts: int = 0
    double_credits: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    cpu_pct: dict[str, float] = field(default_factory=dict)


async def _identify(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    body = {"identities": [{"type": "external_id", "value": f"bench-{uuid.uuid4().hex}"}]}
    response = await client.post("/v1/customers/identify", json=body, headers=headers)
    if response.status_code != 200:
        raise BenchError(f"identify answered {response.status_code}: {response.text[:200]}")
    customer_id: str = response.json()["customer_id"]
    return customer_id


def _cpu_seconds(system: ProcessCpu) -> dict[str, float]:
    """CPU seconds so far of the system's processes and of this one (the generator)."""
    return {**system.sample(), "bench": process_cpu_s(os.getpid()) or 0.0}


async def _contention(
    stub: loyalty_pb2_grpc.PointsServiceStub,
    metadata: tuple[tuple[str, str], ...],
    accounts: list[str],
    args: argparse.Namespace,
) -> tuple[Tally, float]:
    tally = Tally()
    rng = random.Random(args.seed)
    measuring = False
    stop_at = 0.0

    async def call(index: int, earn: bool, points: int, key: str) -> loyalty_pb2.MovePointsResponse:
        request = loyalty_pb2.MovePointsRequest(
            customer_id=accounts[index], points=points, reason="bench", idempotency_key=key
        )
        method = stub.Adjust if earn else stub.Redeem
        response: loyalty_pb2.MovePointsResponse = await method(
            request, timeout=RPC_TIMEOUT, metadata=metadata
        )
        return response

    async def client() -> None:
        while time.monotonic() < stop_at:
            index, earn, points = rng.randrange(len(accounts)), rng.random() < 0.5, rng.randint(1, 5)
            key = uuid.uuid4().hex
            started = time.perf_counter()
            try:
                response = await call(index, earn, points, key)
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    tally.refused += 1  # insufficient points (Conflict)
                    tally.operations += measuring
                else:
                    tally.errors[error.code().name] += 1
                continue
            if measuring:
                tally.operations += 1
                tally.latencies.append((time.perf_counter() - started) * 1000)
            (tally.credited if earn else tally.redeemed)[index] += points
            if response.balance < 0:
                tally.overdrafts += 1
            if rng.random() < REPLAY_SHARE:
                again = await call(index, earn, points, key)
                if not again.replayed or again.entry_id != response.entry_id:
                    tally.double_credits += 1

    stop_at = time.monotonic() + args.warmup + args.duration
    workers = [asyncio.create_task(client()) for _ in range(args.concurrency)]
    await asyncio.sleep(args.warmup)
    measuring = True
    system = ProcessCpu(args.home)
    began, cpu_before = time.monotonic(), _cpu_seconds(system)
    await asyncio.gather(*workers)
    seconds = time.monotonic() - began
    tally.cpu_pct = cpu_pct(cpu_before, _cpu_seconds(system), seconds)
    return tally, seconds


async def _verify(
    stub: loyalty_pb2_grpc.PointsServiceStub,
    metadata: tuple[tuple[str, str], ...],
    accounts: list[str],
    tally: Tally,
) -> None:
    for index, customer in enumerate(accounts):
        balance = await stub.GetBalance(
            loyalty_pb2.GetBalanceRequest(customer_id=customer), timeout=RPC_TIMEOUT, metadata=metadata
        )
        expected = INITIAL_POINTS + tally.credited[index] - tally.redeemed[index]
        if balance.balance < 0:
            tally.overdrafts += 1
        if balance.balance != expected:
            tally.double_credits += 1
            log(f"account {customer}: balance {balance.balance}, clients saw {expected}")


async def _order_latency(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    stub: loyalty_pb2_grpc.PointsServiceStub,
    metadata: tuple[tuple[str, str], ...],
    args: argparse.Namespace,
) -> tuple[list[float], int]:
    customers = [await _identify(client, headers) for _ in range(int(args.order_rate * args.order_seconds))]
    await asyncio.sleep(args.settle)  # let the consumer take in these customers' customer.created first
    latencies: list[float] = []
    missed = 0

    async def one(customer: str) -> None:
        nonlocal missed
        body = {
            "order_id": f"BENCH-{uuid.uuid4().hex[:16]}",
            "customer_id": customer,
            "paid_at": "2026-03-01T10:15:00+08:00",
            "currency": "CNY",
            "amount_minor": 12_300,
            "items": [{"sku": "TEA-1", "unit_price_minor": 12_300, "quantity": 1}],
        }
        response = await client.post("/v1/orders", json=body, headers=headers)
        if response.status_code != 201:
            missed += 1
            return
        paid = time.perf_counter()
        while time.perf_counter() - paid < 10:
            balance = await stub.GetBalance(
                loyalty_pb2.GetBalanceRequest(customer_id=customer), timeout=RPC_TIMEOUT, metadata=metadata
            )
            if balance.balance >= 123:
                latencies.append((time.perf_counter() - paid) * 1000)
                return
            await asyncio.sleep(0.005)
        missed += 1

    tasks = []
    for customer in customers:
        tasks.append(asyncio.create_task(one(customer)))
        await asyncio.sleep(1 / args.order_rate)
    await asyncio.gather(*tasks)
    return latencies, missed


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tenant_id, api_key = create_tenant(args.url, load_admin_token(args.admin_token), prefix="bench-loyalty")
    headers = {"Authorization": f"Bearer {api_key}"}
    metadata = ((TENANT_METADATA_KEY, tenant_id),)
    async with (
        httpx.AsyncClient(base_url=args.url, timeout=30) as client,
        grpc.aio.insecure_channel(args.loyalty_address) as channel,
    ):
        stub = loyalty_pb2_grpc.PointsServiceStub(channel)
        log(f"creating {args.accounts} hot accounts")
        accounts = [await _identify(client, headers) for _ in range(args.accounts)]
        for customer in accounts:
            await stub.Adjust(
                loyalty_pb2.MovePointsRequest(
                    customer_id=customer,
                    points=INITIAL_POINTS,
                    reason="bench start",
                    idempotency_key=uuid.uuid4().hex,
                ),
                timeout=RPC_TIMEOUT,
                metadata=metadata,
            )
        log(f"contention: {args.concurrency} clients over {args.accounts} accounts for {args.duration} s")
        tally, seconds = await _contention(stub, metadata, accounts, args)
        await _verify(stub, metadata, accounts, tally)
        log(f"latency: {args.order_rate} orders/s for {args.order_seconds} s")
        latencies, missed = await _order_latency(client, headers, stub, metadata, args)
    return {
        "benchmark": "loyalty",
        "interface": "contention: loyalty gRPC PointsService (Adjust = earn, Redeem); latency: gateway "
        "POST /v1/orders -> loyalty.events consumer -> GetBalance over gRPC",
        "workload": {
            "accounts": args.accounts,
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "order_rate_per_s": args.order_rate,
            "order_seconds": args.order_seconds,
        },
        "contention": {
            "operations": tally.operations,
            "operations_per_s": round(tally.operations / seconds, 1),
            "refused_insufficient": tally.refused,
            "overdrafts": tally.overdrafts,
            "double_credits": tally.double_credits,
            "errors": dict(tally.errors),
            "latency": latency_summary(tally.latencies),
            "cpu_pct": tally.cpu_pct,
        },
        "order_to_points": {
            "samples": len(latencies),
            "missed": missed,
            "latency": latency_summary(latencies),
        },
        "machine": machine_info(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--loyalty-address", default="127.0.0.1:50053")
    parser.add_argument("--admin-token")
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--order-rate", type=float, default=25.0)
    parser.add_argument("--order-seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("PATRON_HOME", ".patron")),
        help="the system's PATRON_HOME, to find its processes for cpu_pct (default $PATRON_HOME or .patron)",
    )
    parser.add_argument("--output")
    args = parser.parse_args()
    try:
        report = asyncio.run(run(args))
    except BenchError as error:
        raise SystemExit(f"bench.loyalty: {error}") from None
    emit_report(report, Path(args.output) if args.output else None)


if __name__ == "__main__":
    main()

"""Benchmark: coupons issued per second through ``CouponService.IssueCoupons`` (1,000-item batches).

Why: journeys issue one coupon per customer and must reach 5,000 steps/s with 100 k instances due
at once; one ``IssueCoupon`` per coupon serialises on the template row (~38 coupons/s end to end).
This measures the batch path the journey runner calls instead.

Runs against a system already started (``patron up``) and prints one JSON object on stdout.

The workload (the defaults are the workload):

- a fresh tenant (through the gateway) with 1,000 customers (``--customers``), identified first and
  then given 5 s (``--settle``) for loyalty's consumer to take in their customer.created (what a
  journey's customers are: known to loyalty), and one coupon template (``no_threshold``, valid 30
  days, no budget, a per-customer limit high enough for every batch);
- one warm-up batch, then ``--batches`` (20) batches of ``--batch-size`` (1,000) items, each item a
  customer taken round robin and a fresh idempotency key, sent by ``--concurrency`` (1) callers back
  to back over gRPC to the loyalty service, all on the same template (the contended case: a
  template's batches serialise on its row);
- every answer must hold one coupon per item, none replayed; then the first measured batch is sent
  again and must answer every item replayed with the same codes (and is not counted).

Run from the repository root, with the system up::

    flock /tmp/patron-bench.lock .venv/bin/python -m bench.coupon_batches [--url http://127.0.0.1:8080] \\
        [--loyalty-address 127.0.0.1:50053] [--output bench-results/coupon_batches.json]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx

from bench._common import (
    DEFAULT_URL,
    BenchError,
    create_tenant,
    emit_report,
    latency_summary,
    load_admin_token,
    log,
    machine_info,
    positive_int,
)
from patron.loyalty.v1 import coupons_pb2, coupons_pb2_grpc
from services.runtime.tenancy import TENANT_METADATA_KEY

RPC_TIMEOUT = 60.0


async def _customers(client: httpx.AsyncClient, headers: dict[str, str], count: int) -> list[str]:
    gate = asyncio.Semaphore(16)

    async def one() -> str:
        body = {"identities": [{"type": "external_id", "value": f"bench-{uuid.uuid4().hex}"}]}
        async with gate:
            response = await client.post("/v1/customers/identify", json=body, headers=headers)
        if response.status_code != 200:
            raise BenchError(f"identify answered {response.status_code}: {response.text[:200]}")
        customer_id: str = response.json()["customer_id"]
        return customer_id

    return list(await asyncio.gather(*(one() for _ in range(count))))


def _request(
    customers: list[str], template_id: str, size: int, start: int
) -> coupons_pb2.IssueCouponsRequest:
    return coupons_pb2.IssueCouponsRequest(
        items=[
            coupons_pb2.IssueCouponsItem(
                customer_id=customers[(start + i) % len(customers)],
                template_id=template_id,
                idempotency_key=f"bench:{start + i}",
            )
            for i in range(size)
        ]
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tenant_id, api_key = create_tenant(args.url, load_admin_token(args.admin_token), prefix="bench-coupons")
    headers = {"Authorization": f"Bearer {api_key}"}
    metadata = ((TENANT_METADATA_KEY, tenant_id),)
    per_customer = -(-(args.batches + 1) * args.batch_size // args.customers)
    async with (
        httpx.AsyncClient(base_url=args.url, timeout=30) as client,
        grpc.aio.insecure_channel(args.loyalty_address) as channel,
    ):
        stub = coupons_pb2_grpc.CouponServiceStub(channel)
        log(f"creating {args.customers} customers")
        customers = await _customers(client, headers, args.customers)
        created = await client.post(
            "/v1/coupon-templates",
            json={
                "name": "bench",
                "kind": "no_threshold",
                "discount_minor": 500,
                "valid_days": 30,
                "per_customer_limit": min(per_customer, 1_000),
            },
            headers=headers,
        )
        if created.status_code != 201:
            raise BenchError(f"template answered {created.status_code}: {created.text[:200]}")
        template_id: str = created.json()["template_id"]
        await asyncio.sleep(args.settle)

        async def send(start: int) -> list[coupons_pb2.IssueCouponsResult]:
            answer = await stub.IssueCoupons(
                _request(customers, template_id, args.batch_size, start),
                timeout=RPC_TIMEOUT,
                metadata=metadata,
            )
            return list(answer.results)

        log("warm-up batch")
        await send(0)
        starts = [(b + 1) * args.batch_size for b in range(args.batches)]
        latencies: list[float] = []
        refused = replayed = 0
        pending = list(starts)
        first_codes: list[str] = []

        async def caller() -> None:
            nonlocal refused, replayed
            while pending:
                start = pending.pop(0)
                began = time.perf_counter()
                results = await send(start)
                latencies.append((time.perf_counter() - began) * 1000)
                if start == starts[0]:
                    first_codes.extend(r.coupon.code for r in results)
                refused += sum(bool(r.refused_reason) for r in results)
                replayed += sum(r.replayed for r in results)

        log(f"{args.batches} batches of {args.batch_size} by {args.concurrency} callers")
        began = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(args.concurrency)))
        seconds = time.perf_counter() - began
        if refused or replayed:
            raise BenchError(f"{refused} items refused and {replayed} replayed in fresh batches")
        again = await send(starts[0])
        replay_ok = all(r.replayed for r in again) and [r.coupon.code for r in again] == first_codes
    coupons = args.batches * args.batch_size
    return {
        "benchmark": "coupon_batches",
        "interface": "loyalty gRPC CouponService.IssueCoupons (one transaction per batch)",
        "workload": {
            "customers": args.customers,
            "batch_size": args.batch_size,
            "batches": args.batches,
            "concurrency": args.concurrency,
            "templates": 1,
        },
        "coupons": coupons,
        "seconds": round(seconds, 3),
        "coupons_per_s": round(coupons / seconds, 1),
        "batch_latency_ms": latency_summary(latencies),
        "replay_answers_first_coupons": replay_ok,
        "machine": machine_info(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--loyalty-address", default="127.0.0.1:50053")
    parser.add_argument("--admin-token")
    parser.add_argument("--customers", type=positive_int, default=1_000)
    parser.add_argument("--batch-size", type=positive_int, default=1_000)
    parser.add_argument("--batches", type=positive_int, default=20)
    parser.add_argument("--concurrency", type=positive_int, default=1)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--output")
    args = parser.parse_args()
    try:
        report = asyncio.run(run(args))
    except BenchError as error:
        raise SystemExit(f"bench.coupon_batches: {error}") from None
    emit_report(report, Path(args.output) if args.output else None)


if __name__ == "__main__":
    main()

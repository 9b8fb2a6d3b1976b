"""Benchmark: ``patron import orders`` of a generated history, through the gateway.

Runs against a system already started with ``patron up`` and prints one JSON object on stdout.
Merchants bring years of orders on day one; this measures how fast they get in.

The workload (the defaults *are* the workload; change them only to explore):

- a fresh tenant per run; a CSV of ``--orders`` (200,000) orders generated with ``--seed`` (1):
  ``--customers`` (50,000) customers named by ``external_id``, drawn with a heavy tail (a Pareto
  weight per customer, so a few buy often and most once or twice); ``paid_at`` uniform over the last
  two years (RFC 3339, UTC); one to three line items per order (one CSV row each) of 2,000 SKUs in
  20 categories, unit prices log-normal in fen, quantities 1 to 3; ``amount`` in major units (CNY,
  two decimals) = the items' sum less a discount on one order in five;
- **first import**: ``patron import orders`` in process (the importer's own code, not a
  subprocess) with ``--concurrency`` (4) and ``--batch-size`` (500): every order new, every customer
  created on the way (a batch's fresh customers in one transaction);
- **re-import**: the same file again with ``--restart``: every order a duplicate (what a resumed
  import does with the batches it re-sends);
- reported per phase: wall time, ``orders_per_s``, ``rows_per_s``, the importer's counts, calls
  retried, and ``importer_cpu_s`` (CPU the benchmark process used, so on a 2-core machine the
  share the load generator took from the system under test).

Run from the repository root, with the system up::

    flock /tmp/patron-bench.lock .venv/bin/python -m bench.import_orders --output bench-results/import.json
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python bench/import_orders.py): make the bench package importable
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
)
from services.runtime.bulk_import import checkpoint
from services.runtime.bulk_import.command import run_import
from services.runtime.bulk_import.runner import ImportOptions

HEADER = "order_id,external_id,paid_at,currency,amount,sku,category,brand,unit_price_minor,quantity\n"
SKUS = 2000
CATEGORIES = 20
HISTORY_DAYS = 730


def generate(path: Path, orders: int, customers: int, seed: int) -> int:
    """Write the history CSV; returns the number of rows (line items)."""
    rng = random.Random(seed)
    weights = [rng.paretovariate(1.2) for _ in range(customers)]
    buyers = rng.choices(range(customers), weights=weights, k=orders)
    prices = [max(100, int(rng.lognormvariate(math.log(6_000), 0.9))) for _ in range(SKUS)]
    end = datetime(2026, 1, 1, tzinfo=UTC)
    rows = 0
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        buffer = io.StringIO()
        for number, buyer in enumerate(buyers):
            paid_at = (end - timedelta(seconds=rng.randrange(HISTORY_DAYS * 86_400))).isoformat()
            items = [(rng.randrange(SKUS), rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
            total = sum(prices[sku] * quantity for sku, quantity in items)
            if rng.random() < 0.2:
                total -= total // 10
            amount = f"{total // 100}.{total % 100:02d}"
            for sku, quantity in items:
                buffer.write(
                    f"O-{number:07d},c-{buyer:06d},{paid_at},CNY,{amount},SKU-{sku:04d},"
                    f"cat-{sku % CATEGORIES:02d},brand-{sku % 37:02d},{prices[sku]},{quantity}\n"
                )
                rows += 1
            if number % 10_000 == 0:
                handle.write(buffer.getvalue())
                buffer = io.StringIO()
        handle.write(buffer.getvalue())
    return rows


async def phase(
    name: str, path: Path, api_key: str, options: argparse.Namespace, *, restart: bool
) -> dict[str, Any]:
    """One run of the importer over the file; its timing and counts."""
    log(f"{name}: importing {path.name}")
    progress = sys.stderr if options.verbose else io.StringIO()
    settings = ImportOptions(
        kind="orders",
        path=path,
        concurrency=options.concurrency,
        batch_size=options.batch_size,
        restart=restart,
        progress_seconds=10.0,
    )
    cpu, started = time.process_time(), time.perf_counter()
    code = await run_import(settings, api_key, url=options.url, call_timeout=options.timeout, out=progress)
    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
    if code != 0:
        raise BenchError(f"{name}: patron import exited {code}; see its output (run with --verbose)")
    counts = json.loads(checkpoint.state_path(path).read_text())["counts"]
    return {
        "wall_s": round(elapsed, 2),
        "orders_per_s": round(counts["records"] / elapsed),
        "rows_per_s": round(counts["rows"] / elapsed),
        **{key: counts[key] for key in ("records", "rows", "accepted", "duplicates", "rejected")},
        "importer_cpu_s": round(cpu_used, 2),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; the defaults are the benchmark's fixed workload."""
    parser = argparse.ArgumentParser(prog="python -m bench.import_orders", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gateway URL (default {DEFAULT_URL})")
    parser.add_argument("--admin-token", default=None, help="admin token (default: as bench.identify)")
    parser.add_argument("--orders", type=int, default=200_000, help="orders generated (200000)")
    parser.add_argument(
        "--customers", type=int, default=50_000, help="customers they are spread over (50000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated history (1)")
    parser.add_argument("--concurrency", type=int, default=4, help="importer batches in flight (4)")
    parser.add_argument("--batch-size", type=int, default=500, help="orders a call (500)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-call timeout, s (60)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the CSV is written (a temp dir)")
    parser.add_argument("--verbose", action="store_true", help="show the importer's progress lines")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON report here")
    options = parser.parse_args(argv)
    if options.orders < 1 or options.customers < 1:
        parser.error("--orders and --customers must be positive")
    return options


def main(argv: list[str] | None = None) -> int:
    """Entry point: generate the history, create a tenant, import twice, print the report."""
    options = parse_args(argv)
    fast_httpcore()
    with tempfile.TemporaryDirectory(prefix="patron-import-bench-") as scratch:
        workdir = options.workdir or Path(scratch)
        path = workdir / f"orders-{options.orders}-{options.seed}.csv"
        try:
            admin_token = load_admin_token(options.admin_token)
            started = time.perf_counter()
            rows = generate(path, options.orders, options.customers, options.seed)
            log(
                f"generated {options.orders:,} orders in {rows:,} rows ({path.stat().st_size:,} bytes) "
                f"in {time.perf_counter() - started:.1f} s"
            )
            tenant_id, api_key = create_tenant(options.url, admin_token, prefix="bench-import")
            log(f"tenant {tenant_id}")
            first = asyncio.run(phase("first import", path, api_key, options, restart=True))
            again = asyncio.run(phase("re-import", path, api_key, options, restart=True))
        except BenchError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 2
        file_bytes = path.stat().st_size
    emit_report(
        {
            "benchmark": "import_orders",
            "url": options.url,
            "orders": options.orders,
            "customers": options.customers,
            "rows": rows,
            "file_bytes": file_bytes,
            "seed": options.seed,
            "concurrency": options.concurrency,
            "batch_size": options.batch_size,
            "phases": {"first_import": first, "re_import": again},
            "machine": machine_info(),
        },
        options.output,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

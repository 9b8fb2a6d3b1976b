"""BG/NBD + Gamma-Gamma fit and scoring over a generated tenant, and lifetimes side by side.

Creates a database of its own on the PostgreSQL server named by ``--database-url`` (default the
machine's ``postgresql://postgres@127.0.0.1:5432/postgres``), migrates scoring, loads
``bench.tenant_generator``'s tenant (default 1,000,000 customers / 5,000,000 orders) with binary COPY
and times ``fit_and_score`` as a scoring run calls it: summary in SQL, distinct histories read
back, fit + score in numpy/scipy, every customer's predictions written. Target: **<= 30 s**.

lifetimes (BetaGeoFitter + GammaGammaFitter, then P(alive), expected purchases in 30 days, expected
spend and a 12-month CLV: the same work) runs on random subsamples of the same customer summaries
(``--lifetimes-customers``, default 25,000 and 100,000): a full million takes it far too long to
wait for. Its time is extrapolated linearly in customers to the full tenant (its cost per optimiser
step is linear in rows and the number of steps barely moves with n) and reported as such, next to
our domain code timed on the very same subsamples. The database is dropped at the end.

    flock /tmp/patron-bench.lock .venv/bin/python -m bench.scoring_fit --output bench-results/scoring_fit.json
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
import warnings
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from bench._common import emit_report, log, machine_info
from bench.tenant_generator import copy_customers, copy_orders, customer_uuids, describe, generate
from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.predictive import (
    HistoryGroups,
    PredictionSettings,
    SpendGroups,
    currency_exponent,
    predict,
)
from services.scoring.store.prediction_models import load_model
from services.scoring.store.predictions import customer_summaries, fit_and_score

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
Columns = dict[str, npt.NDArray[np.int64]]


async def load_tenant(url: str, customers: int, orders: int, seed: int) -> tuple[uuid.UUID, dict[str, Any]]:
    """Generate the tenant and COPY it into scoring's tables."""
    began = time.perf_counter()
    tenant = generate(customers=customers, orders=orders, seed=seed)
    generated = time.perf_counter() - began
    tenant_id = uuid.uuid4()
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
            "VALUES ($1, 'bench-fit', 'Asia/Shanghai', $2, 'CN')",
            tenant_id,
            tenant.currency,
        )
        began = time.perf_counter()
        ids = customer_uuids(tenant.customers, seed)
        await copy_customers(connection, tenant, tenant_id, ids)
        await copy_orders(connection, tenant, tenant_id, ids)
        await connection.execute("ANALYZE customers; ANALYZE orders; ANALYZE order_refunds")
        copied = time.perf_counter() - began
    finally:
        await connection.close()
    log(f"generated in {generated:.1f} s, copied in {copied:.1f} s")
    return tenant_id, {
        "generate_seconds": round(generated, 2),
        "copy_seconds": round(copied, 2),
        "tenant": describe(tenant),
        "as_of": tenant.end.isoformat(),
    }


async def time_fit(database: Database, tenant_id: uuid.UUID, as_of: date) -> dict[str, Any]:
    """One fit_and_score in its own transaction, as a run does it, and the model it recorded."""
    began = time.perf_counter()
    async with database.transaction() as connection:
        outcome = await fit_and_score(connection, tenant_id, as_of, ScoringConfig())
    elapsed = time.perf_counter() - began
    async with database.read() as connection:
        model = await load_model(connection, tenant_id, as_of)
    log(f"fit_and_score: {elapsed:.1f} s {outcome.seconds} status {outcome.status}")
    return {
        "seconds": round(elapsed, 2),
        "phases_seconds": outcome.seconds,
        "status": outcome.status,
        "customers": outcome.customers,
        "repeat_customers": outcome.repeat_customers,
        "history_groups": outcome.history_groups,
        "predictions_written": outcome.written,
        "bgnbd": None if model is None else model.bgnbd,
        "gamma_gamma": None if model is None else model.gamma_gamma,
        "iterations": None if model is None else model.diagnostics,
    }


def ours_on(sample: Columns, exponent: int) -> tuple[float, dict[str, float]]:
    """Our domain code on a subsample: group (as the SQL does), fit, score. Seconds and params."""
    began = time.perf_counter()
    keys = np.stack([sample["repeat_days"], sample["recency_days"], sample["age_days"]])
    distinct, counts = np.unique(keys, axis=1, return_counts=True)
    spend_keys = np.stack([sample["repeat_days"], sample["repeat_net_minor"]])
    spend_distinct, spend_counts = np.unique(spend_keys, axis=1, return_counts=True)
    prediction = predict(
        HistoryGroups(distinct[0], distinct[1], distinct[2], counts),
        SpendGroups(spend_distinct[0], spend_distinct[1], spend_counts),
        PredictionSettings(100, 12, 0.10, exponent),
    )
    elapsed = time.perf_counter() - began
    params: dict[str, float] = {}
    if prediction.bgnbd is not None:
        p = prediction.bgnbd.params
        params.update(r=p.r, alpha=p.alpha, a=p.a, b=p.b)
    if prediction.gamma_gamma is not None:
        g = prediction.gamma_gamma.params
        params.update(p=g.p, q=g.q, gamma=g.gamma)
    return elapsed, params


def lifetimes_on(sample: Columns, exponent: int) -> tuple[float, dict[str, float]]:
    """lifetimes doing the same work on the same subsample. Seconds and params."""
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    x = sample["repeat_days"].astype(float)
    frame = pd.DataFrame(
        {
            "frequency": x,
            "recency": sample["recency_days"] / 7,
            "T": sample["age_days"] / 7,
            "monetary_value": np.where(x > 0, sample["repeat_net_minor"] / np.maximum(x, 1), 0)
            / 10**exponent,
        }
    )
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        purchases = BetaGeoFitter().fit(frame["frequency"], frame["recency"], frame["T"])
        repeaters = frame[(frame["frequency"] > 0) & (frame["monetary_value"] > 0)]
        spending = GammaGammaFitter().fit(repeaters["frequency"], repeaters["monetary_value"])
        purchases.conditional_probability_alive(frame["frequency"], frame["recency"], frame["T"])
        purchases.conditional_expected_number_of_purchases_up_to_time(
            30 / 7, frame["frequency"], frame["recency"], frame["T"]
        )
        spending.conditional_expected_average_profit(frame["frequency"], frame["monetary_value"])
        spending.customer_lifetime_value(
            purchases,
            frame["frequency"],
            frame["recency"],
            frame["T"],
            frame["monetary_value"],
            time=12,
            discount_rate=1.10 ** (1 / 12) - 1,
            freq="W",
        )
    elapsed = time.perf_counter() - began
    params = {**purchases.params_.to_dict(), **spending.params_.to_dict()}
    params["gamma"] = params.pop("v")
    return elapsed, params


def side_by_side(summary: Columns, sizes: list[int], exponent: int, seed: int) -> list[dict[str, Any]]:
    """lifetimes and ours on the same random subsamples; lifetimes extrapolated to the full tenant."""
    total = int(summary["repeat_days"].size)
    rng = np.random.default_rng(seed)
    results = []
    for size in sizes:
        chosen = np.sort(rng.choice(total, size=min(size, total), replace=False))
        sample = {name: column[chosen] for name, column in summary.items()}
        ours_seconds, ours_params = ours_on(sample, exponent)
        log(f"ours on {chosen.size} customers: {ours_seconds:.2f} s")
        theirs_seconds, theirs_params = lifetimes_on(sample, exponent)
        log(f"lifetimes on {chosen.size} customers: {theirs_seconds:.1f} s")
        results.append(
            {
                "customers": int(chosen.size),
                "lifetimes_seconds": round(theirs_seconds, 2),
                "ours_domain_seconds": round(ours_seconds, 3),
                "ratio_lifetimes_over_ours": round(theirs_seconds / ours_seconds, 1),
                "lifetimes_extrapolated_to_full_seconds": round(theirs_seconds * total / chosen.size, 1),
                "largest_relative_parameter_difference": max(
                    abs(ours_params[k] / theirs_params[k] - 1) for k in theirs_params
                ),
            }
        )
    return results


async def main(arguments: argparse.Namespace) -> dict[str, Any]:
    server = await asyncpg.connect(arguments.database_url)
    name = f"patron_bench_fit_{uuid.uuid4().hex[:8]}"
    await server.execute(f'CREATE DATABASE "{name}"')
    url = arguments.database_url.rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(migrations.upgrade, "scoring", url)
        tenant_id, load = await load_tenant(url, arguments.customers, arguments.orders, arguments.seed)
        as_of = date.fromisoformat(load["as_of"])
        database = Database(create_engine(url, application_name="bench-scoring-fit"))
        try:
            runs = [await time_fit(database, tenant_id, as_of) for _ in range(arguments.repeat)]
            async with database.transaction() as connection:
                summary = await customer_summaries(connection, tenant_id, as_of)
        finally:
            await database.engine.dispose()
    finally:
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()
    exponent = currency_exponent("CNY")
    comparison = side_by_side(summary, arguments.lifetimes_customers, exponent, arguments.seed)
    best = min(run["seconds"] for run in runs)
    full = comparison[-1]["lifetimes_extrapolated_to_full_seconds"] if comparison else None
    return {
        "bench": "scoring_fit",
        "machine": machine_info(),
        "load": load,
        "fit_and_score": runs,
        "fit_and_score_best_seconds": best,
        "target_seconds": 30,
        "lifetimes_side_by_side": comparison,
        "lifetimes_full_tenant_extrapolated_seconds": full,
        "ratio_lifetimes_extrapolated_over_fit_and_score": None if full is None else round(full / best, 1),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--database-url", default=DEFAULT_SERVER, help="a server where a database can be created"
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2, help="fit_and_score runs (the 2nd replaces rows)")
    parser.add_argument(
        "--lifetimes-customers",
        type=int,
        nargs="*",
        default=[25_000, 100_000],
        help="subsample sizes for lifetimes (none: skip it)",
    )
    parser.add_argument("--output", type=Path)
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parse()
    emit_report(asyncio.run(main(options)), options.output)

"""The "analyst's script" that ``bench.scoring`` times beside scoring's own run.

What a merchant's analyst would otherwise write: read the tenant's live customers, its counted
orders and their item lines out of PostgreSQL, compute RFM quintiles, the eight groups, the lifecycle
stage, the top category and brand and the average item price with pandas, and write one row per
customer back. It is written to be fast rather than naive, so that the comparison flatters pandas
rather than Patron: each read is one ``COPY … TO STDOUT`` (CSV, numbers not text where that saves
parsing: epoch seconds, local day numbers), the join of items to their orders is left to
PostgreSQL, and the answer goes back with one CSV ``COPY`` into an unlogged table.

The rules are scoring's defaults (``services.scoring.domain.config.ScoringConfig``): a 365-day RFM
window, quintile cuts by linear interpolation (``percentile_cont``), the median split for the
groups, and the lifecycle limits (2 and 4 times the mean gap with a 7-day floor for repeat buyers,
30 and 90 days otherwise, mature from 3 orders). The bench tenant has no behaviour events, so a
customer's last activity is their last order. Only the tenant's currency counts as money.
"""

from __future__ import annotations

import io
import time
import uuid
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.rfm import GROUPS, QUINTILES

TABLE = "analyst_scores"

_CUSTOMERS = """
SELECT customer_id FROM customers
WHERE tenant_id = $1 AND merged_into IS NULL AND erased_at IS NULL
"""

# Epoch seconds and the local day as a day number (days since 1970-01-01 in the tenant's zone).
_ORDERS = """
SELECT o.customer_id, extract(epoch FROM o.paid_at)::bigint AS paid,
       ((o.paid_at AT TIME ZONE $2::text)::date - DATE '1970-01-01') AS day,
       CASE WHEN o.currency = t.currency THEN o.amount_minor - o.refunded_minor ELSE 0 END AS net
FROM orders o JOIN tenants t ON t.tenant_id = o.tenant_id
WHERE o.tenant_id = $1 AND o.refunded_minor < o.amount_minor
  AND o.paid_at < (($3::date + 1)::timestamp AT TIME ZONE $2::text)
"""

_ITEMS = """
SELECT o.customer_id, i.category, i.brand, i.quantity,
       CASE WHEN o.currency = t.currency THEN i.unit_price_minor END AS price
FROM order_items i
JOIN orders o ON o.tenant_id = i.tenant_id AND o.order_id = i.order_id
JOIN tenants t ON t.tenant_id = o.tenant_id
WHERE i.tenant_id = $1 AND o.refunded_minor < o.amount_minor
  AND o.paid_at < (($3::date + 1)::timestamp AT TIME ZONE $2::text)
"""

_CREATE = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE UNLOGGED TABLE {TABLE} (
    customer_id uuid PRIMARY KEY, recency_days int, frequency int, monetary_minor bigint,
    r smallint, f smallint, m smallint, rfm_group text, stage text,
    top_category text, top_brand text, avg_unit_price_minor bigint)
"""


_WRITTEN = ["customer_id", "recency_days", "frequency", "monetary_minor", "r", "f", "m", "rfm_group"]
_WRITTEN += ["stage", "top_category", "top_brand", "avg_unit_price_minor"]
_WHOLE_NUMBERS = ["recency_days", "frequency", "monetary_minor", "r", "f", "m", "avg_unit_price_minor"]


async def _read(
    connection: Any, query: str, bound: tuple[Any, ...], names: list[str], dtypes: dict[str, Any]
) -> pd.DataFrame:
    buffer = io.BytesIO()
    await connection.copy_from_query(query, *bound, output=buffer, format="csv")
    buffer.seek(0)
    return pd.read_csv(buffer, names=names, dtype=dtypes, keep_default_na=True)


def _scores(values: pd.Series, cuts: np.ndarray, higher_is_better: bool) -> pd.Series:
    """1-5 by the quintile cuts, as scoring counts them (strictly beyond each cut adds one)."""
    column = values.to_numpy()[:, None]
    passed = (column > cuts) if higher_is_better else (column < cuts)
    return pd.Series(1 + passed.sum(axis=1), index=values.index)


def _top(items: pd.DataFrame, key: str) -> pd.Series:
    """The key with the largest quantity per customer, the smallest name on ties."""
    counted = items.dropna(subset=[key])
    counted = counted[counted[key] != ""]
    sums = counted.groupby(["customer_id", key], sort=False, observed=True)["quantity"].sum().reset_index()
    sums = sums.sort_values(["customer_id", "quantity", key], ascending=[True, False, True])
    return sums.drop_duplicates("customer_id").set_index("customer_id")[key]


def compute(
    customers: pd.DataFrame, orders: pd.DataFrame, items: pd.DataFrame, as_of: date, config: ScoringConfig
) -> pd.DataFrame:
    """One row per live customer: RFM, group, stage, top category and brand, average item price."""
    as_of_day = (as_of - date(1970, 1, 1)).days
    in_window = orders["day"] > as_of_day - config.rfm_window_days
    orders = orders.assign(window_net=orders["net"].where(in_window, 0), in_window=in_window.astype(np.int64))
    per = orders.groupby("customer_id", sort=False).agg(
        order_count=("paid", "size"),
        first_paid=("paid", "min"),
        last_paid=("paid", "max"),
        last_day=("day", "max"),
        frequency=("in_window", "sum"),
        monetary_minor=("window_net", "sum"),
    )
    per["recency_days"] = as_of_day - per["last_day"]
    cuts = {
        column: np.quantile(per[column].to_numpy(dtype=np.float64), QUINTILES, method="linear")
        for column in ("recency_days", "frequency", "monetary_minor")
    }
    per["r"] = _scores(per["recency_days"], cuts["recency_days"], higher_is_better=False)
    per["f"] = _scores(per["frequency"], cuts["frequency"], higher_is_better=True)
    per["m"] = _scores(per["monetary_minor"], cuts["monetary_minor"], higher_is_better=True)
    r_high = per["recency_days"] < per["recency_days"].median()
    f_high = per["frequency"] > per["frequency"].median()
    m_high = per["monetary_minor"] > per["monetary_minor"].median()
    group_key = r_high.astype(int) * 4 + f_high.astype(int) * 2 + m_high.astype(int)
    names = {int(g.r_high) * 4 + int(g.f_high) * 2 + int(g.m_high): g.code for g in GROUPS}
    per["rfm_group"] = group_key.map(names)

    repeat = per["order_count"] >= 2
    mean_gap = (per["last_paid"] - per["first_paid"]) / 86400.0 / (per["order_count"] - 1).where(repeat)
    gap = mean_gap.clip(lower=config.min_gap_days)
    decline = (config.decline_gap_multiple * gap).where(repeat, config.decline_days)
    churn = (config.churn_gap_multiple * gap).where(repeat, config.churn_days)
    idle = per["recency_days"]
    per["stage"] = np.select(
        [idle > churn, idle > decline, per["order_count"] >= config.mature_orders],
        ["churned", "decline", "mature"],
        "growth",
    )

    priced = items.dropna(subset=["price"])
    value = (priced["price"] * priced["quantity"]).groupby(priced["customer_id"], sort=False).sum()
    quantity = priced["quantity"].groupby(priced["customer_id"], sort=False).sum()
    per["avg_unit_price_minor"] = np.floor(value / quantity + 0.5)  # half away from zero, as numeric
    per["top_category"] = _top(items, "category")
    per["top_brand"] = _top(items, "brand")

    answer = customers.set_index("customer_id").join(per, how="left")
    answer["stage"] = answer["stage"].fillna("acquisition")
    return answer.reset_index()


async def run(connection: Any, tenant_id: uuid.UUID, timezone: str, as_of: date) -> dict[str, Any]:
    """Read, compute and write back; seconds per step and the rows written."""
    timings: dict[str, float] = {}
    began = time.perf_counter()
    bound = (tenant_id, timezone, as_of)
    customers = await _read(connection, _CUSTOMERS, bound[:1], ["customer_id"], {"customer_id": str})
    orders = await _read(
        connection,
        _ORDERS,
        bound,
        ["customer_id", "paid", "day", "net"],
        {"customer_id": str, "paid": np.int64, "day": np.int64, "net": np.int64},
    )
    items = await _read(
        connection,
        _ITEMS,
        bound,
        ["customer_id", "category", "brand", "quantity", "price"],
        {
            "customer_id": str,
            "category": "category",
            "brand": "category",
            "quantity": np.int64,
            "price": float,
        },
    )
    timings["read"] = time.perf_counter() - began
    began = time.perf_counter()
    answer = compute(customers, orders, items, as_of, ScoringConfig())
    timings["compute"] = time.perf_counter() - began
    began = time.perf_counter()
    await connection.execute(_CREATE)
    frame = answer[_WRITTEN].copy()
    for column in _WHOLE_NUMBERS:
        frame[column] = frame[column].astype("Int64")  # nullable: an empty CSV field, read as NULL
    buffer = io.BytesIO(frame.to_csv(index=False, header=False).encode())
    await connection.copy_to_table(TABLE, source=buffer, columns=_WRITTEN, format="csv")
    timings["write"] = time.perf_counter() - began
    timings["total"] = timings["read"] + timings["compute"] + timings["write"]
    return {"seconds": timings, "customers": len(answer), "orders": len(orders), "items": len(items)}


_AGREEMENT = f"""
SELECT count(*) AS customers,
       count(*) FILTER (WHERE a.stage = s.stage) AS stage,
       count(*) FILTER (WHERE a.rfm_group IS NOT DISTINCT FROM s.rfm_group) AS rfm_group,
       count(*) FILTER (WHERE (a.r, a.f, a.m) IS NOT DISTINCT FROM (s.r, s.f, s.m)) AS rfm_scores,
       count(*) FILTER (WHERE a.top_category IS NOT DISTINCT FROM s.top_category) AS top_category,
       count(*) FILTER (WHERE a.top_brand IS NOT DISTINCT FROM s.top_brand) AS top_brand,
       count(*) FILTER (WHERE a.avg_unit_price_minor IS NOT DISTINCT FROM s.avg_unit_price_minor)
           AS avg_unit_price_minor
FROM {TABLE} a JOIN customer_scores s ON s.tenant_id = $1 AND s.customer_id = a.customer_id
"""  # noqa: S608 - a constant table name


async def agreement(connection: Any, tenant_id: uuid.UUID) -> dict[str, int]:
    """How many customers the script and scoring's last run agree on, figure by figure."""
    row = await connection.fetchrow(_AGREEMENT, tenant_id)
    return dict(row)
